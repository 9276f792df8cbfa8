// Signing in and out on the inspector and console pages.

import { api, login, logout, session } from './api.js';
import { t } from './i18n.js';

/**
 * Shows the sign-in form until a session exists, then calls onReady(me) with
 * {id, username, role, department}. `offlineMe()` answers who is signed in when
 * the server cannot be reached (the inspector's page works offline);
 * `onSignOut()` runs before the page reloads after signing out.
 */
export async function withSession(onReady, { offlineMe = null, onSignOut = null } = {}) {
  const loginBox = document.getElementById('login');
  const work = document.getElementById('work');
  const who = document.getElementById('who');
  const out = document.getElementById('sign-out');
  const show = async () => {
    let me = null;
    if (session()) {
      try {
        me = await api('/api/auth/me');
      } catch (e) {
        me = e.status === 0 && offlineMe ? await offlineMe() : null;
      }
    }
    loginBox.hidden = !!me;
    work.hidden = !me;
    out.hidden = !me;
    who.textContent = me ? `${t('signedInAs')} ${me.username} · ${me.role}${me.department ? ` · ${me.department}` : ''}` : '';
    if (me) await onReady(me);
  };
  document.getElementById('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = document.getElementById('login-error');
    err.textContent = '';
    try {
      await login(document.getElementById('username').value.trim(), document.getElementById('password').value);
      document.getElementById('password').value = '';
      await show();
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  out.addEventListener('click', async () => {
    await logout();
    if (onSignOut) await onSignOut();
    location.reload();
  });
  await show();
}

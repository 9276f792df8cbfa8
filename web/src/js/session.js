// Signing in and out on the inspector and console pages.

import { api, login, logout, session } from './api.js';
import { t } from './i18n.js';

/**
 * Shows the sign-in form until a session exists, then calls onReady(me) with
 * {id, username, role, department}.
 */
export async function withSession(onReady) {
  const loginBox = document.getElementById('login');
  const work = document.getElementById('work');
  const who = document.getElementById('who');
  const out = document.getElementById('sign-out');
  const show = async () => {
    let me = null;
    if (session()) {
      try {
        me = await api('/api/auth/me');
      } catch {
        me = null;
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
    location.reload();
  });
  await show();
}

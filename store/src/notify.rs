//! LISTEN/NOTIFY: following the changes other connections announce (reference data on
//! [`MGMT_CHANNEL`], layers on `citygrid_db::LAYER_CHANNEL`).
//!
//! ```no_run
//! # async fn f(pool: &sqlx::PgPool) -> citygrid_store::Result<()> {
//! use citygrid_store::notify::{Listener, MGMT_CHANNEL};
//! let mut listener = Listener::connect(pool).await?;
//! listener.listen(MGMT_CHANNEL).await?;
//! while let Some(payload) = listener.recv().await? {
//!     println!("{payload} changed");
//! }
//! // the connection was lost: connect again
//! # Ok(())
//! # }
//! ```

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::Result;

/// The notification channel of reference-data changes (sent by the reference tables'
/// triggers with the table's name).
pub const MGMT_CHANNEL: &str = "citygrid_mgmt";

/// A connection of its own that receives notifications.
#[derive(Debug)]
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// Opens a listening connection with `pool`'s settings.
    pub async fn connect(pool: &PgPool) -> Result<Listener> {
        Ok(Listener {
            inner: PgListener::connect_with(pool).await?,
        })
    }

    /// Starts listening on `channel`.
    pub async fn listen(&mut self, channel: &str) -> Result<()> {
        self.inner.listen(channel).await
    }

    /// The next notification's payload; `None` when the connection was lost (connect
    /// again), [`sqlx::Error::PoolClosed`] when the pool was closed.
    pub async fn recv(&mut self) -> Result<Option<String>> {
        Ok(self
            .inner
            .try_recv()
            .await?
            .map(|n| n.payload().to_string()))
    }

    /// [`Listener::recv`] with the channel: `(channel, payload)`, for a listener of
    /// several channels.
    pub async fn recv_from(&mut self) -> Result<Option<(String, String)>> {
        Ok(self
            .inner
            .try_recv()
            .await?
            .map(|n| (n.channel().to_string(), n.payload().to_string())))
    }
}

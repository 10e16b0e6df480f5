//! What an operation uses beyond its caller and body — the optional third
//! argument of its handler: a deployment key or client its function loads at
//! cold start ([`TokenKeys`], [`Keyring`], [`DeliveryQueue`], [`Outbound`]),
//! the reads it starts from ([`Early`]), or two of them as a pair. A
//! function loads exactly what its handler's signature names — the route
//! table derives its [`Needs`] from the type — and does not start without
//! it, so no request finds one missing.

use super::overlap::{Early, ReadAhead, Reading};
use crate::app::{App, Needs};
use crate::outbound::Outbound;
use crate::queue::DeliveryQueue;
use crate::sealed::Keyring;
use crate::tokens::TokenKeys;
use std::sync::Arc;

/// Something an operation taking body `B` uses.
pub trait Uses<B>: Sized + Send + 'static {
    /// What its function loads at cold start.
    const NEEDS: Needs;
    /// What a function instance keeps for it.
    type Kept: Send + Sync + 'static;
    /// What its reads bring beside the admission (`()`: none).
    type Brought: Send + 'static;

    /// Takes it from the function's state at cold start; `None`: the
    /// function lacks it, and does not start.
    fn keep(app: &App) -> Option<Self::Kept>;

    /// The reads it starts beside the admission, from the parsed body and
    /// the path's parameters.
    fn read_ahead(
        app: &Arc<App>,
        body: &B,
        path: &[(&'static str, String)],
    ) -> Option<Reading<Self::Brought>>;

    /// What the operation gets.
    fn extract(kept: &Self::Kept, brought: Option<Self::Brought>) -> Self;
}

/// Nothing beyond the caller and the body.
impl<B> Uses<B> for () {
    const NEEDS: Needs = Needs::NONE;
    type Kept = ();
    type Brought = ();

    fn keep(_: &App) -> Option<()> {
        Some(())
    }

    fn read_ahead(_: &Arc<App>, _: &B, _: &[(&'static str, String)]) -> Option<Reading<()>> {
        None
    }

    fn extract((): &(), _: Option<()>) {}
}

/// A deployment key or client the function keeps from its cold start.
macro_rules! capability {
    ($kept:ty, $field:ident, $needs:ident) => {
        impl<B> Uses<B> for $kept {
            const NEEDS: Needs = Needs::NONE.$needs();
            type Kept = $kept;
            type Brought = ();

            fn keep(app: &App) -> Option<$kept> {
                app.$field.clone()
            }

            fn read_ahead(
                _: &Arc<App>,
                _: &B,
                _: &[(&'static str, String)],
            ) -> Option<Reading<()>> {
                None
            }

            fn extract(kept: &$kept, _: Option<()>) -> Self {
                kept.clone()
            }
        }
    };
}

// The access-token keys (minting, the key set); the webhook keyring (sealing,
// signing); the delivery queue (a delivery sent by the operation itself); the
// guarded client for customers' URLs (SPEC §16), which never fetches the
// deployment's own host names.
capability!(Arc<TokenKeys>, tokens, with_token_keys);
capability!(Arc<Keyring>, webhook_key, with_webhook_key);
capability!(DeliveryQueue, deliveries, with_delivery_queue);
capability!(Arc<Outbound>, outbound, with_own_hostnames);

/// The reads an operation starts from, brought beside its admission when
/// they could be sent early.
impl<B, T: ReadAhead<B>> Uses<B> for Early<T> {
    const NEEDS: Needs = Needs::NONE;
    type Kept = ();
    type Brought = T;

    fn keep(_: &App) -> Option<()> {
        Some(())
    }

    fn read_ahead(app: &Arc<App>, body: &B, path: &[(&'static str, String)]) -> Option<Reading<T>> {
        T::start(app, body, path)
    }

    fn extract((): &(), brought: Option<T>) -> Self {
        Early(brought)
    }
}

/// Two things used.
impl<B, X: Uses<B>, Y: Uses<B>> Uses<B> for (X, Y) {
    const NEEDS: Needs = X::NEEDS.and(Y::NEEDS);
    type Kept = (X::Kept, Y::Kept);
    type Brought = (Option<X::Brought>, Option<Y::Brought>);

    fn keep(app: &App) -> Option<Self::Kept> {
        Some((X::keep(app)?, Y::keep(app)?))
    }

    fn read_ahead(
        app: &Arc<App>,
        body: &B,
        path: &[(&'static str, String)],
    ) -> Option<Reading<Self::Brought>> {
        let (x, y) = (
            X::read_ahead(app, body, path),
            Y::read_ahead(app, body, path),
        );
        if x.is_none() && y.is_none() {
            return None;
        }
        Some(Box::pin(async move {
            let x = futures_util::future::OptionFuture::from(x);
            let y = futures_util::future::OptionFuture::from(y);
            futures_util::future::join(x, y).await
        }))
    }

    fn extract(kept: &Self::Kept, brought: Option<Self::Brought>) -> Self {
        let (x, y) = brought.unwrap_or((None, None));
        (X::extract(&kept.0, x), Y::extract(&kept.1, y))
    }
}

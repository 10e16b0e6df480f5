//! A write's reads beside its limiter's write: an endpoint may
//! name the reads its operation starts from ([`crate::endpoint::ReadAhead`],
//! in the route table). Once its caller is verified and its body parsed —
//! both while the admission's round trip is out — they are sent beside that
//! write, and the operation takes what they brought instead of reading
//! after its admission. The write itself still follows the admission (SPEC
//! §6: a refused request writes nothing); a refused request discards what
//! was read, its units the price of the round trip saved (an endpoint's
//! hook reads nothing when its bucket was last seen empty).

use crate::endpoint::Brought;
use std::sync::{Mutex, PoisonError};

/// What a read ahead brought, until the operation takes it.
#[derive(Default)]
pub(super) struct Slot(Mutex<Option<Brought>>);

impl Slot {
    pub(super) fn new(brought: Option<Brought>) -> Self {
        Self(Mutex::new(brought))
    }

    /// Takes what was brought, if it is a `T`.
    pub(super) fn take<T: 'static>(&self) -> Option<T> {
        let brought = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        brought.downcast::<T>().ok().map(|b| *b)
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("Slot").field("full", &full).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_brought_is_taken_once_and_as_its_own_type() {
        let slot = Slot::new(Some(Box::new(7_u32)));
        assert_eq!(slot.take::<String>(), None, "another type takes nothing");
        let slot = Slot::new(Some(Box::new(7_u32)));
        assert_eq!(slot.take::<u32>(), Some(7));
        assert_eq!(slot.take::<u32>(), None, "taken once");
        assert_eq!(Slot::default().take::<u32>(), None);
    }
}

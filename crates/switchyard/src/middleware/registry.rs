//! State that outlives a configuration snapshot (rate-limit buckets, in-flight counters, digest
//! nonces), shared by every build of the same middleware. An entry is keyed by the middleware's
//! qualified name and its configuration, so a reload that leaves a middleware unchanged hands the
//! new build the very same state, and a changed configuration starts afresh. Entries are held
//! weakly: once no snapshot uses a state any more, it is freed.
//!
//! Only the compiler touches the registry (on a blocking thread); requests never lock it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

/// Shared states of one kind, by key.
pub struct Registry<T> {
    entries: Mutex<HashMap<String, Weak<T>>>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("Registry").field("entries", &live).finish()
    }
}

impl<T> Registry<T> {
    /// The state stored under `key`, or a new one from `make` (stored for the next build).
    pub fn get_or_insert_with(&self, key: String, make: impl FnOnce() -> T) -> Arc<T> {
        let mut entries = match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.retain(|_, weak| weak.strong_count() > 0);
        if let Some(state) = entries.get(&key).and_then(Weak::upgrade) {
            return state;
        }
        let state = Arc::new(make());
        entries.insert(key, Arc::downgrade(&state));
        state
    }
}

/// The registry key for a middleware: its qualified name and its whole configuration.
pub fn state_key(name: &str, cfg: &impl fmt::Debug) -> String {
    format!("{name}\u{0}{cfg:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_state_while_alive() {
        let reg: Registry<Mutex<u32>> = Registry::default();
        let a = reg.get_or_insert_with("k".into(), || Mutex::new(1));
        *a.lock().unwrap() = 7;
        let b = reg.get_or_insert_with("k".into(), || Mutex::new(1));
        assert_eq!(
            *b.lock().unwrap(),
            7,
            "an unchanged middleware keeps its state"
        );
        let c = reg.get_or_insert_with("other".into(), || Mutex::new(1));
        assert_eq!(*c.lock().unwrap(), 1);
        drop((a, b));
        let d = reg.get_or_insert_with("k".into(), || Mutex::new(2));
        assert_eq!(*d.lock().unwrap(), 2, "state is dropped once unused");
    }

    #[test]
    fn key_includes_config() {
        assert_ne!(state_key("a@file", &1), state_key("a@file", &2));
        assert_ne!(state_key("a@file", &1), state_key("b@file", &1));
    }
}

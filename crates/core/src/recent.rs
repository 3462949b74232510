//! A small memory of a process, by a (secret, version) pair: at most a fixed number of
//! entries, the least recently used dropped first. What a warm function remembers between
//! invocations (the values of versions, the start of a rotation) lives in one of these, so
//! it can never grow without bound.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Up to `capacity` values by (secret, id), the most recently used last.
#[derive(Debug)]
pub(crate) struct Recent<V> {
    capacity: usize,
    entries: Mutex<VecDeque<(String, String, V)>>,
}

impl<V: Clone> Recent<V> {
    /// An empty memory of at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// The value kept for (`secret`, `id`), now the most recently used.
    pub(crate) fn get(&self, secret: &str, id: &str) -> Option<V> {
        let mut entries = self.lock();
        let index = position(&entries, secret, id)?;
        let entry = entries.remove(index)?;
        let value = entry.2.clone();
        entries.push_back(entry);
        Some(value)
    }

    /// Takes the value kept for (`secret`, `id`) out of the memory.
    pub(crate) fn take(&self, secret: &str, id: &str) -> Option<V> {
        let mut entries = self.lock();
        let index = position(&entries, secret, id)?;
        entries.remove(index).map(|(_, _, value)| value)
    }

    /// Whether anything is kept for `secret`.
    pub(crate) fn knows(&self, secret: &str) -> bool {
        self.lock().iter().any(|(kept, _, _)| kept == secret)
    }

    /// Keeps `value` for (`secret`, `id`), replacing what was kept for it; when full, the least
    /// recently used entry goes.
    pub(crate) fn put(&self, secret: &str, id: &str, value: V) {
        let mut entries = self.lock();
        if let Some(index) = position(&entries, secret, id) {
            entries.remove(index);
        }
        self.push(&mut entries, secret, id, value);
    }

    /// Keeps `value` for (`secret`, `id`) unless something is kept for it already.
    pub(crate) fn put_if_absent(&self, secret: &str, id: &str, value: V) {
        let mut entries = self.lock();
        if position(&entries, secret, id).is_none() {
            self.push(&mut entries, secret, id, value);
        }
    }

    /// How many entries are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn push(&self, entries: &mut VecDeque<(String, String, V)>, secret: &str, id: &str, value: V) {
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back((secret.to_owned(), id.to_owned(), value));
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(String, String, V)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn position<V>(entries: &VecDeque<(String, String, V)>, secret: &str, id: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(kept, kept_id, _)| kept == secret && kept_id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_by_pair_and_the_least_recently_used_goes_first() {
        let recent = Recent::new(2);
        recent.put("a", "1", 1);
        recent.put("b", "1", 2);
        assert_eq!(recent.get("a", "1"), Some(1));
        assert!(recent.knows("b") && !recent.knows("c"));
        // ("b", "1") is now the least recently used.
        recent.put("a", "2", 3);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.get("b", "1"), None);
        // Replacing never duplicates; put_if_absent keeps the first.
        recent.put("a", "2", 4);
        recent.put_if_absent("a", "2", 5);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.take("a", "2"), Some(4));
        assert_eq!(recent.take("a", "2"), None);
    }
}

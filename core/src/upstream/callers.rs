//! One upstream session per caller, for Streamable HTTP upstreams that act for callers (token
//! exchange, `forward_authorization`): a server that binds its sessions to the token that
//! opened them — as toolgate itself does — refuses a session opened with the gateway's token
//! when a caller's token arrives on it. So each caller's calls go on a session of their own,
//! opened with their token on first use, kept while they are used (bounded: the least recently
//! used is closed past [`MAX_CALLERS`]), and opened again if the server ends it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::OnceCell;

use super::UpstreamCaller;

/// Most caller sessions kept per upstream.
pub(crate) const MAX_CALLERS: usize = 1024;

/// A caller's session: `T` is the transport's connection, ready once `opened` is set.
#[derive(Debug)]
pub(crate) struct CallerSession<T> {
    pub(crate) connection: Arc<T>,
    pub(crate) opened: OnceCell<()>,
    /// When it was last used, on the sessions' own clock (a counter: no two uses tie).
    last_used: AtomicU64,
}

/// The caller sessions of one upstream connection.
#[derive(Debug)]
pub(crate) struct CallerSessions<T> {
    sessions: Mutex<HashMap<Arc<str>, Arc<CallerSession<T>>>>,
    clock: AtomicU64,
}

impl<T> Default for CallerSessions<T> {
    fn default() -> Self {
        CallerSessions {
            sessions: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
        }
    }
}

impl<T> CallerSessions<T> {
    /// `caller`'s session, made with `make` if there is none or the one there is `dead`.
    /// Returns it and, when one had to go to stay within [`MAX_CALLERS`], the evicted one (to
    /// be closed by the caller of this).
    pub(crate) fn get(
        &self,
        caller: &UpstreamCaller,
        dead: impl Fn(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> (Arc<CallerSession<T>>, Option<Arc<CallerSession<T>>>) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self.sessions.lock();
        if let Some(existing) = sessions.get(&caller.key)
            && !dead(&existing.connection)
        {
            existing.last_used.store(now, Ordering::Relaxed);
            return (existing.clone(), None);
        }
        let mut evicted = None;
        if sessions.len() >= MAX_CALLERS && !sessions.contains_key(&caller.key) {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                evicted = sessions.remove(&key);
            }
        }
        let session = Arc::new(CallerSession {
            connection: Arc::new(make()),
            opened: OnceCell::new(),
            last_used: AtomicU64::new(now),
        });
        sessions.insert(caller.key.clone(), session.clone());
        (session, evicted)
    }

    /// Every session, removed (the upstream connection is going away).
    pub(crate) fn drain(&self) -> Vec<Arc<CallerSession<T>>> {
        self.sessions.lock().drain().map(|(_, s)| s).collect()
    }

    /// How many there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sessions.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn caller(key: &str) -> UpstreamCaller {
        UpstreamCaller {
            key: key.into(),
            authorization: HeaderValue::from_static("Bearer t"),
        }
    }

    #[test]
    fn a_caller_keeps_its_session_until_it_dies() {
        let sessions = CallerSessions::<u32>::default();
        let (a, _) = sessions.get(&caller("a"), |_| false, || 1);
        let (again, _) = sessions.get(&caller("a"), |_| false, || 2);
        assert!(Arc::ptr_eq(&a, &again));
        let (fresh, evicted) = sessions.get(&caller("a"), |_| true, || 3);
        assert_eq!(*fresh.connection, 3);
        assert!(evicted.is_none());
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn past_the_bound_the_least_recently_used_goes() {
        let sessions = CallerSessions::<usize>::default();
        for i in 0..MAX_CALLERS {
            sessions.get(&caller(&i.to_string()), |_| false, || i);
        }
        // Caller 0 is used again: caller 1 is now the least recently used.
        sessions.get(&caller("0"), |_| false, || usize::MAX);
        let (_, evicted) = sessions.get(&caller("new"), |_| false, || 0);
        assert_eq!(evicted.map(|s| *s.connection), Some(1));
        assert_eq!(sessions.len(), MAX_CALLERS);
    }
}

//! Re-reading a file without a restart: on SIGHUP, and whenever its time or
//! size changes (checked every second). Control keys and signal secrets use
//! it to rotate without downtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Calls `reread(by_signal)` on a task of its own each time `path` changes
/// or the process gets SIGHUP.
pub fn watch_file(path: PathBuf, mut reread: impl FnMut(&Path, bool) + Send + 'static) {
    tokio::spawn(async move {
        let stamp = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        let mut last = stamp(&path);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let signalled = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<bool>();
            let by_signal = tokio::select! {
                s = signalled => s,
                _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            };
            let now = stamp(&path);
            if !by_signal && now == last {
                continue;
            }
            last = now;
            reread(&path, by_signal);
        }
    });
}

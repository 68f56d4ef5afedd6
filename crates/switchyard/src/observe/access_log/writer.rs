//! The access log's writer thread: requests append formatted lines to a shared pending buffer
//! (one short lock and a copy); a dedicated std thread writes the buffer out in batches, so a
//! slow disk never blocks a request. When too much is pending the line is dropped and counted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// With `bufferingSize`, how long the oldest line may wait for the buffer to fill.
pub(super) const MAX_HOLD: Duration = Duration::from_secs(1);
/// Pause after each write, so that a busy proxy's lines are written in batches (and requests
/// seldom have to wake the writer).
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// How long `flush` waits for the writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where lines go.
#[derive(Debug)]
enum Output {
    Stdout,
    File { path: PathBuf, file: File },
}

impl Output {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
            Output::File { file, .. } => file.write_all(buf),
        }
    }
}

/// Opens `path` for appending (creating it and its directory), as Traefik does.
pub(super) fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o664)
        .open(path)
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    lines: usize,
    /// When the oldest pending line arrived.
    oldest: Option<Instant>,
    /// The writer waits for a notification (requests must wake it).
    waiting: bool,
    flush_requested: u64,
    flushed: u64,
    reopen: bool,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer.
    wake: Condvar,
    /// Tells `flush` callers that a flush completed.
    done: Condvar,
    /// Lines dropped because too much was pending.
    dropped: AtomicU64,
    warned: AtomicBool,
    /// `bufferingSize` (0: write at once).
    buffering: usize,
    /// Most bytes pending before lines are dropped.
    max_pending: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The handle requests use.
#[derive(Debug)]
pub(super) struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread for `path` (stdout when `None`).
    pub(super) fn start(path: Option<&str>, buffering: usize) -> Result<Writer, String> {
        let max_pending = buffering.saturating_mul(2048).clamp(16 << 20, 256 << 20);
        Self::start_with(path, buffering, max_pending)
    }

    fn start_with(
        path: Option<&str>,
        buffering: usize,
        max_pending: usize,
    ) -> Result<Writer, String> {
        let output = match path {
            None => Output::Stdout,
            Some(p) => {
                let path = PathBuf::from(p);
                let file =
                    open(&path).map_err(|e| format!("accessLog.filePath: cannot open {p}: {e}"))?;
                Output::File { path, file }
            }
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(64 << 10),
                ..State::default()
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            dropped: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            buffering,
            max_pending,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || run(&thread_shared, output))
            .map_err(|e| format!("accessLog: cannot start the writer thread: {e}"))?;
        Ok(Writer {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues one line (it ends with `\n`). Never blocks on I/O.
    pub(super) fn push(&self, line: &[u8]) {
        let s = &*self.shared;
        let mut st = s.lock();
        if st.shutdown || st.pending.len() + line.len() > s.max_pending {
            drop(st);
            let n = s.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if !s.warned.swap(true, Ordering::Relaxed) {
                warn!(dropped = n, "the access log cannot keep up: dropping lines");
            }
            return;
        }
        st.pending.extend_from_slice(line);
        st.lines += 1;
        if st.oldest.is_none() {
            st.oldest = Some(Instant::now());
        }
        // Buffered: the first line wakes the writer too, to start the MAX_HOLD timer.
        let wake = st.waiting && (s.buffering == 0 || st.lines >= s.buffering || st.lines == 1);
        if wake {
            st.waiting = false;
        }
        drop(st);
        if wake {
            s.wake.notify_one();
        }
    }

    /// Asks the writer to reopen the file (after it wrote what is pending to the old one).
    pub(super) fn reopen(&self) {
        let mut st = self.shared.lock();
        st.reopen = true;
        st.waiting = false;
        drop(st);
        self.shared.wake.notify_one();
    }

    /// Writes out everything pending now; waits (a bounded time) until it is written.
    pub(super) fn flush(&self) {
        let s = &*self.shared;
        let mut st = s.lock();
        st.flush_requested += 1;
        let ticket = st.flush_requested;
        st.waiting = false;
        s.wake.notify_one();
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while st.flushed < ticket && !st.shutdown {
            let now = Instant::now();
            if now >= deadline {
                warn!("the access log writer did not finish writing within {FLUSH_TIMEOUT:?}");
                break;
            }
            st = s
                .done
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        drop(st);
        let dropped = s.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            warn!(
                dropped,
                "access log lines were dropped because the writer could not keep up"
            );
        }
    }

    /// Lines dropped so far.
    #[cfg(test)]
    pub(super) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// The writer thread.
fn run(s: &Shared, mut output: Output) {
    let mut spare: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut failing = false;
    let mut st = s.lock();
    loop {
        let flush = st.flushed < st.flush_requested;
        let held_long = st.oldest.is_some_and(|t| t.elapsed() >= MAX_HOLD);
        let due = !st.pending.is_empty()
            && (s.buffering == 0
                || st.lines >= s.buffering
                || held_long
                || flush
                || st.reopen
                || st.shutdown);
        if due {
            std::mem::swap(&mut st.pending, &mut spare);
            st.lines = 0;
            st.oldest = None;
            drop(st);
            match output.write_all(&spare) {
                Ok(()) => failing = false,
                Err(e) => {
                    if !failing {
                        warn!(error = %e, "cannot write the access log");
                    }
                    failing = true;
                }
            }
            spare.clear();
            if spare.capacity() > 4 << 20 {
                spare.shrink_to(64 << 10);
            }
            if !flush && s.buffering == 0 {
                std::thread::sleep(BATCH_PAUSE);
            }
            st = s.lock();
            continue;
        }
        // Nothing (more) to write now.
        if st.reopen {
            st.reopen = false;
            drop(st);
            if let Output::File { path, file } = &mut output {
                match open(path) {
                    Ok(f) => {
                        *file = f;
                        info!(path = %path.display(), "access log reopened");
                    }
                    Err(e) => {
                        warn!(path = %path.display(), error = %e, "cannot reopen the access log; still writing to the old file")
                    }
                }
            }
            st = s.lock();
            continue;
        }
        if flush {
            st.flushed = st.flush_requested;
            s.done.notify_all();
            continue;
        }
        if st.shutdown {
            s.done.notify_all();
            return;
        }
        st.waiting = true;
        st = match st.oldest {
            // Buffered lines: wake up when the oldest has waited long enough.
            Some(t) => {
                let wait = MAX_HOLD.saturating_sub(t.elapsed());
                s.wake
                    .wait_timeout(st, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
            None => s.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
        };
        st.waiting = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-al-writer-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("access.log")
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    fn eventually(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("timed out: {what}");
    }

    #[test]
    fn unbuffered_lines_are_written_promptly_and_dirs_created() {
        let path = temp("prompt");
        let w = Writer::start(path.to_str(), 0).unwrap();
        w.push(b"one\n");
        w.push(b"two\n");
        eventually("two lines", || read(&path) == "one\ntwo\n");
        w.flush();
        assert_eq!(read(&path), "one\ntwo\n");
    }

    #[test]
    fn buffered_lines_wait_for_the_buffer_then_flush() {
        let path = temp("buffered");
        let w = Writer::start(path.to_str(), 3).unwrap();
        let started = Instant::now();
        w.push(b"a\n");
        w.push(b"b\n");
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() < MAX_HOLD {
            assert_eq!(read(&path), "", "written before the buffer filled");
        }
        w.push(b"c\n");
        eventually("the full buffer", || read(&path) == "a\nb\nc\n");
        w.push(b"d\n");
        w.flush();
        assert_eq!(read(&path), "a\nb\nc\nd\n");
        // A lone line is written after MAX_HOLD at the latest.
        w.push(b"e\n");
        eventually("the held line", || read(&path).ends_with("e\n"));
    }

    #[test]
    fn reopen_moves_to_a_new_file() {
        let path = temp("reopen");
        let w = Writer::start(path.to_str(), 0).unwrap();
        w.push(b"old\n");
        w.flush();
        let rotated = path.with_extension("1");
        std::fs::rename(&path, &rotated).unwrap();
        w.push(b"still old\n");
        w.reopen();
        eventually("the new file", || path.exists());
        w.push(b"new\n");
        w.flush();
        assert_eq!(read(&rotated), "old\nstill old\n");
        assert_eq!(read(&path), "new\n");
    }

    #[test]
    fn too_much_pending_drops_lines() {
        let path = temp("drop");
        // Buffered, so that nothing is written before the flush.
        let w = Writer::start_with(path.to_str(), 1000, 16).unwrap();
        w.push(b"kept 1\n");
        w.push(b"kept 2\n");
        w.push(b"dropped\n");
        assert_eq!(w.dropped(), 1);
        w.flush();
        assert_eq!(read(&path), "kept 1\nkept 2\n");
    }

    #[test]
    fn unopenable_path_is_an_error() {
        let err = Writer::start(Some("/proc/nope/access.log"), 0).unwrap_err();
        assert!(err.contains("accessLog.filePath"), "{err}");
    }
}

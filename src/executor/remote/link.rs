//! Requests and replies over one channel, shared by every thread of the JIT.
//!
//! Any number of requests may be outstanding: each has an id, its sender waits for the reply
//! with that id, and a reader thread files every incoming message. The executor's own
//! messages arrive the same way: a lazy re-entry runs the JIT's handler on a thread of its
//! own (the handler links a body, which sends requests of its own and waits for their
//! replies, so it must not run on the reader); a crash report wakes every waiter.

use super::channel::Outbound;
use super::{Crash, LazyHandler, Outcome};
use crate::error::{JitError, Result};
use crate::executor::protocol::{self, op_name, Decoder, Encoder, Hello, Message};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

pub(super) struct Link {
    outbound: Mutex<Option<Outbound>>,
    state: Mutex<State>,
    changed: Condvar,
    next_id: AtomicU64,
    timeout_millis: AtomicU64,
    pub lazy: RwLock<Option<Arc<LazyHandler>>>,
}

#[derive(Default)]
struct State {
    hello: Option<Result<Hello>>,
    /// Requests sent and not yet answered nor given up on.
    pending: HashSet<u64>,
    replies: HashMap<u64, Result<Vec<u8>, String>>,
    /// Requests whose sender stopped waiting: their replies are dropped on arrival.
    abandoned: HashSet<u64>,
    crash: Option<Crash>,
    /// The status of an `exit` the program (or our `exit` request) made.
    exited: Option<i32>,
    /// Why no more messages will come.
    closed: Option<String>,
}

impl Link {
    pub fn new(outbound: Outbound, timeout: Duration) -> Arc<Link> {
        Arc::new(Link {
            outbound: Mutex::new(Some(outbound)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(1),
            timeout_millis: AtomicU64::new(timeout.as_millis() as u64),
            lazy: RwLock::new(None),
        })
    }

    /// Starts the reader thread on `inbound`.
    pub fn start(self: &Arc<Link>, inbound: File) -> Result<()> {
        let link = self.clone();
        std::thread::Builder::new()
            .name("jitld-executor-reader".into())
            .spawn(move || link.receive(inbound))
            .map(drop)
            .map_err(|e| JitError::other(format!("executor: cannot start the reader thread: {e}")))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_millis.load(Ordering::Relaxed))
    }

    pub fn set_timeout(&self, timeout: Duration) {
        self.timeout_millis.store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the executor's hello.
    pub fn hello(&self) -> Result<Hello> {
        let deadline = Instant::now() + self.timeout();
        let mut state = self.lock();
        loop {
            if let Some(hello) = &state.hello {
                return hello.clone();
            }
            if let Some(why) = &state.closed {
                return Err(JitError::other(format!("executor: no handshake: {why}")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(JitError::other(format!("executor: no handshake within {:?}", self.timeout())));
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Sends one message as a whole (messages from several threads never interleave).
    pub fn send(&self, op: u32, id: u64, body: &[u8]) -> Result<()> {
        let bytes = protocol::frame(op, id, body);
        let outbound = self.outbound.lock().unwrap_or_else(|e| e.into_inner());
        let Some(outbound) = outbound.as_ref() else {
            return Err(JitError::other("executor: the connection is closed"));
        };
        outbound
            .send(&bytes, self.timeout())
            .map_err(|e| self.failure(format!("cannot send {} to the executor: {e}", op_name(op))))
    }

    /// Sends a request and waits for its reply; `wait` is `None` for requests that run the
    /// program's code, which may take as long as it likes. A crash while waiting is an
    /// outcome, not an error.
    pub fn exchange(&self, op: u32, body: &[u8], wait: Option<Duration>) -> Result<Outcome<Vec<u8>>> {
        if let Some(gone) = self.gone() {
            return Err(gone);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().pending.insert(id);
        if let Err(e) = self.send(op, id, body) {
            self.lock().pending.remove(&id);
            return Err(e);
        }
        let deadline = wait.map(|d| Instant::now() + d);
        let mut state = self.lock();
        loop {
            if let Some(reply) = state.replies.remove(&id) {
                return reply
                    .map(Outcome::Returned)
                    .map_err(|message| JitError::other(format!("executor: {}: {message}", op_name(op))));
            }
            if let Some(crash) = state.crash {
                return Ok(Outcome::Crashed(crash));
            }
            if let Some(status) = state.exited {
                return Ok(Outcome::Exited(status));
            }
            if let Some(why) = &state.closed {
                return Err(JitError::other(format!("executor: no reply to {}: {why}", op_name(op))));
            }
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.pending.remove(&id);
                        state.abandoned.insert(id);
                        return Err(JitError::other(format!(
                            "executor: no reply to {} within {:?}",
                            op_name(op),
                            wait.unwrap_or_default()
                        )));
                    }
                    self.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// A request whose crash is an error too.
    pub fn request(&self, op: u32, body: &[u8]) -> Result<Vec<u8>> {
        match self.exchange(op, body, Some(self.timeout()))? {
            Outcome::Returned(reply) => Ok(reply),
            Outcome::Exited(status) => {
                Err(JitError::other(format!("executor: the program exited with status {status}")))
            }
            Outcome::Crashed(crash) => Err(JitError::other(format!("executor: {crash}"))),
        }
    }

    /// Waits until the executor hangs up (after an `exit`); its crash or exit status, if it
    /// reported one.
    pub fn wait_closed(&self) -> (Option<Crash>, Option<i32>) {
        let mut state = self.lock();
        while state.closed.is_none() {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        (state.crash, state.exited)
    }

    /// The error every request gets once the executor is gone; `None` while it lives.
    pub fn gone(&self) -> Option<JitError> {
        let state = self.lock();
        let why = match (&state.crash, state.exited, &state.closed) {
            (Some(crash), _, _) => crash.to_string(),
            (None, Some(status), _) => format!("the program exited with status {status}"),
            (None, None, Some(why)) => why.clone(),
            (None, None, None) => return None,
        };
        Some(JitError::other(format!("executor: {why}")))
    }

    pub fn crash(&self) -> Option<Crash> {
        self.lock().crash
    }

    fn failure(&self, what: String) -> JitError {
        match self.gone() {
            Some(gone) => gone,
            None => JitError::other(format!("executor: {what}")),
        }
    }

    /// Closes our end: the executor sees its input end and exits.
    pub fn hang_up(&self) {
        if let Some(outbound) = self.outbound.lock().unwrap_or_else(|e| e.into_inner()).take() {
            outbound.shut_down();
        }
    }

    fn close(&self, why: String) {
        let mut state = self.lock();
        state.closed.get_or_insert(why);
        self.changed.notify_all();
    }

    /// The reader thread: files each message until the stream ends or breaks.
    fn receive(self: Arc<Link>, mut inbound: File) {
        let why = loop {
            match protocol::read_message(&mut inbound) {
                Ok(None) => break "the executor hung up".to_string(),
                Err(e) => break format!("executor protocol: {e}"),
                Ok(Some(message)) => {
                    if let Err(e) = self.file(message) {
                        break e.to_string();
                    }
                }
            }
        };
        self.close(why);
    }

    fn file(self: &Arc<Link>, message: Message) -> Result<()> {
        let mut state = self.lock();
        match message.op {
            protocol::OP_HELLO if state.hello.is_none() => {
                state.hello = Some(Hello::decode(&message));
                if let Some(Err(e)) = &state.hello {
                    return Err(e.clone());
                }
            }
            _ if state.hello.is_none() => {
                let error = protocol::malformed(format!("expected a hello, got message {}", op_name(message.op)));
                state.hello = Some(Err(error.clone()));
                return Err(error);
            }
            protocol::OP_OK | protocol::OP_ERROR => {
                let reply = match message.op {
                    protocol::OP_OK => Ok(message.body),
                    _ => {
                        let mut d = Decoder::new(&message);
                        let text = d.string()?;
                        d.finish()?;
                        Err(text)
                    }
                };
                if state.pending.remove(&message.id) {
                    state.replies.insert(message.id, reply);
                } else if !state.abandoned.remove(&message.id) {
                    return Err(protocol::malformed(format!(
                        "a reply to request {}, which was never sent",
                        message.id
                    )));
                }
            }
            protocol::OP_CRASHED => {
                let mut d = Decoder::new(&message);
                let crash = Crash { signal: d.u32()? as i32, pc: d.u64()?, addr: d.u64()? };
                d.finish()?;
                state.crash = Some(crash);
            }
            protocol::OP_EXITED => {
                let mut d = Decoder::new(&message);
                let status = d.u32()? as i32;
                d.finish()?;
                state.exited = Some(status);
            }
            protocol::OP_LAZY_RESOLVE => {
                let mut d = Decoder::new(&message);
                let context = d.u64()?;
                d.finish()?;
                drop(state);
                self.resolve_lazily(message.id, context);
                return Ok(());
            }
            op => return Err(protocol::malformed(format!("unexpected message {op} ({})", op_name(op)))),
        }
        self.changed.notify_all();
        Ok(())
    }

    /// Answers a lazy re-entry on a thread of its own (see the module comment).
    fn resolve_lazily(self: &Arc<Link>, id: u64, context: u64) {
        let link = self.clone();
        let spawned = std::thread::Builder::new().name("jitld-lazy-resolve".into()).spawn(move || {
            let handler = link.lazy.read().unwrap_or_else(|e| e.into_inner()).clone();
            let answer = match handler {
                None => Err("no lazy handler is set".to_string()),
                Some(handler) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(context))) {
                    Ok(Ok(addr)) => Ok(addr),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("the lazy handler panicked".to_string()),
                },
            };
            let (op, body) = match answer {
                Ok(addr) => (protocol::OP_OK, Encoder::new().u64(addr).finish()),
                Err(text) => (protocol::OP_ERROR, Encoder::new().str(&text).finish()),
            };
            // If this fails the executor is gone, and every waiter hears so from the reader.
            let _ = link.send(op, id, &body);
        });
        if spawned.is_err() {
            let body = Encoder::new().str("the JIT cannot start a thread").finish();
            let _ = self.send(protocol::OP_ERROR, id, &body);
        }
    }
}

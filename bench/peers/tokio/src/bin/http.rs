// SPDX-License-Identifier: MIT
//! http — the Tokio peer of examples/http.c for the HTTP benchmark, on the
//! current-thread runtime (one thread, like one coring loop), doing the same
//! work: a real request parser (httparse: request line and header fields;
//! then Content-Length, Transfer-Encoding: chunked, Connection and Host read
//! from them by http.c's rules), Date and Server headers, keep-alive by
//! HTTP/1.1's rules and HTTP/1.0's (`Connection: keep-alive` is answered in
//! kind), HEAD without a body, pipelining, and requests that arrive in pieces;
//! 400 on a malformed request, 431 on a header block over 8 KiB, 501 on a
//! transfer coding other than chunked, 505 on a version other than HTTP/1.x.
//! Not hyper: it does more than http.c does.
//!
//! One task per connection with its own read buffer. Responses are appended
//! to an output buffer while complete requests remain in the read buffer, and
//! written out before the task waits to read: the responses to a batch of
//! pipelined requests go out in one write, as with http.c.
//!
//! The two responses (keep-alive and close) are rebuilt when time(2)'s second
//! changes, as http.c does (per thread; nginx caches its time the same way).
//!
//! Prints "tokio: listening on 127.0.0.1:PORT" (run.py reads the port); SIGINT
//! ends it (default action).
//!
//!     http [PORT]
use std::cell::RefCell;
use std::io::Write;
use std::mem::MaybeUninit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_MAX: usize = 8192; // http.c's: a longer header block is refused with 431
const LINE_MAX: usize = 255; // http.c's limit on a chunk-size line
const TRAILER_MAX: usize = 256; // ... and on a trailer field line
const BUF: usize = 2 * HEADER_MAX; // read buffer: a whole header block always fits after compaction
const OUT_MAX: usize = 64 << 10; // a pipelining client that does not read: write out at least this often
const BODY: &[u8] = b"Hello, world!";

// ------------------------------------------------------------- responses --

struct Resp {
    sec: libc::time_t,
    keep: Vec<u8>,
    close: Vec<u8>,
    keep_head: usize, // without the body
    close_head: usize,
}

thread_local! {
    static RESP: RefCell<Resp> = RefCell::new(Resp { sec: -1, keep: Vec::new(), close: Vec::new(),
                                                     keep_head: 0, close_head: 0 });
}

fn build(out: &mut Vec<u8>, date: &[u8], conn: &str) -> usize {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: tokio\r\nDate: ");
    out.extend_from_slice(date);
    write!(out, "\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n", BODY.len(), conn)
        .unwrap();
    let head = out.len();
    out.extend_from_slice(BODY);
    head
}

fn refresh(r: &mut Resp) {
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    if now == r.sec {
        return;
    }
    let mut date = [0u8; 64];
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&now, &mut tm);
        // IMF-fixdate; the C locale (a Rust program never calls setlocale)
        libc::strftime(date.as_mut_ptr() as *mut libc::c_char, date.len(),
                       b"%a, %d %b %Y %H:%M:%S GMT\0".as_ptr() as *const libc::c_char, &tm)
    };
    r.keep_head = build(&mut r.keep, &date[..n], "keep-alive");
    r.close_head = build(&mut r.close, &date[..n], "close");
    r.sec = now;
}

fn respond(out: &mut Vec<u8>, keep: bool, head: bool) {
    RESP.with(|r| {
        let mut r = r.borrow_mut();
        refresh(&mut r);
        let (v, h) = if keep { (&r.keep, r.keep_head) } else { (&r.close, r.close_head) };
        out.extend_from_slice(if head { &v[..h] } else { &v[..] });
    });
}

fn refuse(out: &mut Vec<u8>, status: u16) {
    let why = match status {
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Bad Request",
    };
    write!(out, "HTTP/1.1 {} {}\r\nServer: tokio\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, why)
        .unwrap();
}

// ---------------------------------------------------------------- parser --

enum Body {
    None,
    Length(u64),
    Chunked,
}

enum Parsed {
    Partial,
    Bad(u16),
    Request { len: usize, keep: bool, head: bool, body: Body },
}

/// Does the comma-separated list v hold token t (case-insensitive)?
fn has_token(v: &[u8], t: &[u8]) -> bool {
    let ws = |c: &u8| *c != b' ' && *c != b'\t';
    v.split(|&c| c == b',').any(|e| {
        let (i, j) = (e.iter().position(ws), e.iter().rposition(ws));
        matches!((i, j), (Some(i), Some(j)) if e[i..=j].eq_ignore_ascii_case(t))
    })
}

/// What http.c reads from the header fields, by its rules (RFC 9112).
fn semantics(req: &httparse::Request, len: usize) -> Parsed {
    let minor = req.version.unwrap_or(1);
    let (mut length, mut te, mut chunked, mut close, mut keep_alive, mut host) = (None, false, false, false, false, false);
    for h in req.headers.iter() {
        let (name, v) = (h.name.as_bytes(), h.value); // v: httparse trimmed its whitespace
        if name.len() == 14 && name.eq_ignore_ascii_case(b"Content-Length") {
            if v.is_empty() {
                return Parsed::Bad(400);
            }
            let mut n: u64 = 0;
            for &c in v {
                if !c.is_ascii_digit() || n > 1 << 50 {
                    return Parsed::Bad(400);
                }
                n = n * 10 + (c - b'0') as u64;
            }
            if length.map_or(false, |l| l != n) {
                return Parsed::Bad(400); // RFC 9112 6.3: differing lengths
            }
            length = Some(n);
        } else if name.len() == 17 && name.eq_ignore_ascii_case(b"Transfer-Encoding") {
            te = true;
            // chunked must be the final coding; the body is dropped, so codings
            // under it do not matter. Anything else cannot be framed.
            let last = v.rsplit(|&c| c == b',' || c == b' ' || c == b'\t').next().unwrap_or(b"");
            chunked = last.eq_ignore_ascii_case(b"chunked");
            if !chunked {
                return Parsed::Bad(501);
            }
        } else if name.len() == 10 && name.eq_ignore_ascii_case(b"Connection") {
            close |= has_token(v, b"close");
            keep_alive |= has_token(v, b"keep-alive");
        } else if name.len() == 4 && name.eq_ignore_ascii_case(b"Host") {
            if host {
                return Parsed::Bad(400); // RFC 9112 3.2: exactly one Host
            }
            host = true;
        }
    }
    if te && length.is_some() {
        return Parsed::Bad(400); // RFC 9112 6.1: both is a smuggling attempt: refuse
    }
    if minor >= 1 && !host {
        return Parsed::Bad(400); // RFC 9112 3.2
    }
    let body = if chunked { Body::Chunked } else { length.map_or(Body::None, Body::Length) };
    Parsed::Request { len, keep: !close && (minor >= 1 || keep_alive), head: req.method == Some("HEAD"), body }
}

/// httparse refuses every version but HTTP/1.0 and 1.1; http.c answers 505 to
/// a well-formed HTTP/x.y with x other than 1, 400 to anything else.
fn version_status(buf: &[u8]) -> u16 {
    let start = buf.iter().position(|&c| c != b'\r' && c != b'\n').unwrap_or(0);
    let line = &buf[start..];
    let line = &line[..line.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(line.len())];
    match line.rsplit(|&c| c == b' ').next() {
        Some(&[b'H', b'T', b'T', b'P', b'/', x, b'.', y]) if x.is_ascii_digit() && y.is_ascii_digit() && x != b'1' => 505,
        _ => 400,
    }
}

fn parse(buf: &[u8]) -> Parsed {
    let mut hs = [MaybeUninit::<httparse::Header>::uninit(); 64];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut hs) {
        Ok(httparse::Status::Complete(len)) => semantics(&req, len),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            // http.c has no cap on the count, only on the bytes: room for
            // every field an 8 KiB block can hold ("a:" LF, 3 bytes each).
            let mut hs = vec![MaybeUninit::<httparse::Header>::uninit(); HEADER_MAX / 3 + 1];
            let mut req = httparse::Request::new(&mut []);
            match req.parse_with_uninit_headers(buf, &mut hs) {
                Ok(httparse::Status::Complete(len)) => semantics(&req, len),
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(httparse::Error::TooManyHeaders) => Parsed::Bad(431),
                Err(httparse::Error::Version) => Parsed::Bad(version_status(buf)),
                Err(_) => Parsed::Bad(400),
            }
        }
        Err(httparse::Error::Version) => Parsed::Bad(version_status(buf)),
        Err(_) => Parsed::Bad(400),
    }
}

// ------------------------------------------------------------ connection --

struct Conn {
    s: TcpStream,
    buf: Box<[u8]>,
    lo: usize, // unread input: buf[lo..hi]
    hi: usize,
    out: Vec<u8>,
}

enum Chunks {
    Done,
    Bad, // malformed: 400
    Eof, // the peer went away (http.c answers 400 here too: to no one)
}

impl Conn {
    /// Writes out what is buffered, then reads more. false: EOF or an error.
    async fn fill(&mut self) -> bool {
        if !self.out.is_empty() {
            if self.s.write_all(&self.out).await.is_err() {
                return false;
            }
            self.out.clear();
        }
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
        } else if self.hi == self.buf.len() {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
        }
        match self.s.read(&mut self.buf[self.hi..]).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.hi += n;
                true
            }
        }
    }

    /// Drops n bytes of body.
    async fn skip(&mut self, mut n: u64) -> bool {
        loop {
            let k = n.min((self.hi - self.lo) as u64);
            self.lo += k as usize;
            n -= k;
            if n == 0 {
                return true;
            }
            if !self.fill().await {
                return false;
            }
        }
    }

    /// Reads and drops a chunked body (RFC 9112 7.1), trailers included.
    async fn skip_chunked(&mut self) -> Chunks {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.lo..self.hi]) {
                Ok(httparse::Status::Complete((used, size))) => {
                    if used > LINE_MAX {
                        return Chunks::Bad;
                    }
                    self.lo += used;
                    if size == 0 {
                        break;
                    }
                    if !self.skip(size + 2).await {
                        // the data, then its CRLF
                        return Chunks::Eof;
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if self.hi - self.lo >= LINE_MAX {
                        return Chunks::Bad;
                    }
                    if !self.fill().await {
                        return Chunks::Eof;
                    }
                }
                Err(_) => return Chunks::Bad,
            }
        }
        loop {
            // trailer fields, up to the empty line
            let avail = &self.buf[self.lo..self.hi];
            match avail.windows(2).position(|w| w == b"\r\n") {
                Some(i) if i + 2 <= TRAILER_MAX => {
                    self.lo += i + 2;
                    if i == 0 {
                        return Chunks::Done;
                    }
                }
                Some(_) => return Chunks::Bad,
                None if avail.len() >= TRAILER_MAX => return Chunks::Bad,
                None => {
                    if !self.fill().await {
                        return Chunks::Eof;
                    }
                }
            }
        }
    }

    async fn finish(&mut self, status: u16) {
        if status != 0 {
            refuse(&mut self.out, status);
        }
        let _ = self.s.write_all(&self.out).await;
    }
}

async fn serve(s: TcpStream) {
    let mut c = Conn { s, buf: vec![0u8; BUF].into_boxed_slice(), lo: 0, hi: 0, out: Vec::with_capacity(4096) };
    loop {
        let parsed = if c.lo == c.hi { Parsed::Partial } else { parse(&c.buf[c.lo..c.hi]) };
        match parsed {
            Parsed::Partial => {
                if c.hi - c.lo >= HEADER_MAX {
                    return c.finish(431).await;
                }
                if !c.fill().await {
                    return; // EOF (possibly mid-request) or reset
                }
            }
            Parsed::Bad(status) => return c.finish(status).await,
            Parsed::Request { len, keep, head, body } => {
                if len > HEADER_MAX {
                    return c.finish(431).await;
                }
                c.lo += len;
                match body {
                    Body::None => {}
                    Body::Length(n) => {
                        if !c.skip(n).await {
                            return;
                        }
                    }
                    Body::Chunked => match c.skip_chunked().await {
                        Chunks::Done => {}
                        Chunks::Bad | Chunks::Eof => return c.finish(400).await,
                    },
                }
                respond(&mut c.out, keep, head);
                if !keep {
                    return c.finish(0).await;
                }
                if c.out.len() >= OUT_MAX {
                    if c.s.write_all(&c.out).await.is_err() {
                        return;
                    }
                    c.out.clear();
                }
            }
        }
    }
}

fn main() {
    coring_bench_tokio::serve_current_thread(serve);
}

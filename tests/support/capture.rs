//! A loopback HTTP server that records every request and answers from a script: what a forge's
//! API sees of gantry (the status calls to GitHub and GitLab, which have no server here), and
//! a forge that rate-limits or fails before it answers.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Captured {
    /// `POST`…
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
    /// The status code it was answered with.
    pub answered: u16,
}

impl Captured {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status code and extra headers.
pub type Answer = (u16, Vec<(&'static str, &'static str)>);

/// The running server.
pub struct Capture {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    /// Starts a server answering the first requests with `script`'s answers, then `201`.
    pub fn start(script: Vec<Answer>) -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_lowercase(), v.trim().to_string()));
                        }
                    }
                    let len = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    let (code, extra) = script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((201, Vec::new()));
                    log.lock().unwrap().push(Captured {
                        method,
                        path,
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or_default(),
                        answered: code,
                    });
                    let mut head = format!(
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n"
                    );
                    for (k, v) in extra {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n{}");
                    let _ = stream.write_all(head.as_bytes());
                });
            }
        });
        Capture { url, seen }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until a request satisfies `done`; every request then.
    pub fn wait(&self, secs: u64, done: impl Fn(&Captured) -> bool) -> Vec<Captured> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let all = self.requests();
            if all.iter().any(&done) {
                return all;
            }
            assert!(
                Instant::now() < end,
                "the expected request never came; got {all:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

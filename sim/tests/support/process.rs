//! Waiting for a `possim` child process the live tests started: its exit
//! code and both its outputs, read on their own threads so neither pipe
//! fills, within a wall-time bound so a hung child fails the test instead
//! of hanging it.

use std::io::Read;
use std::process::Child;
use std::time::{Duration, Instant};

/// (exit code, stdout, stderr) of `child`, killed and reported as a panic
/// naming `what` if it runs over `wall_max`. A stdout the caller already
/// took (to converse with the child) comes back empty.
pub fn finish(mut child: Child, what: &str, wall_max: Duration) -> (i32, String, String) {
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be polled") {
            break status;
        }
        if started.elapsed() > wall_max {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran over {} ms: {}", wall_max.as_millis(), err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code().unwrap_or(-1), out.join().unwrap(), err.join().unwrap())
}

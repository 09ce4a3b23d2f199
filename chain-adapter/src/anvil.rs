//! A local anvil chain for `fornax node --dev` and the tests: spawned on a free loopback
//! port and killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ChainError;

/// Anvil's first default account (mnemonic "test test … junk"): funded on every dev chain.
/// Publicly known: never use it anywhere but a local dev chain.
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Anvil's second default account, for a dApp or a second prover in the demo and tests.
pub const DEV_KEY_2: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// A running anvil.
pub struct Anvil {
    child: Child,
    port: u16,
}

impl Anvil {
    /// The anvil that `ops/setup.sh` installs (npm `@foundry-rs/anvil-linux-amd64`) under
    /// `root`, or `anvil` on the PATH.
    pub fn binary(root: &Path) -> PathBuf {
        let npm = root.join("ops/js/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        if npm.exists() {
            npm
        } else {
            PathBuf::from("anvil")
        }
    }

    /// Starts anvil on a free loopback port, mining a block every `block_time_s` seconds
    /// (0: a block per transaction), and waits until it listens.
    pub fn spawn(bin: &Path, block_time_s: u64) -> Result<Anvil, ChainError> {
        let port = free_port()?;
        Self::spawn_on(bin, port, block_time_s)
    }

    /// Starts anvil on `port`.
    pub fn spawn_on(bin: &Path, port: u16, block_time_s: u64) -> Result<Anvil, ChainError> {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--chain-id",
            "31337",
        ]);
        if block_time_s > 0 {
            cmd.args(["--block-time", &block_time_s.to_string()]);
        }
        // anvil dies with the thread that started it, even when that process is killed
        // with SIGKILL: a dev chain never outlives its node or test.
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                ChainError::Config(format!("cannot start anvil ({}): {e}", bin.display()))
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Listening on") {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                return Ok(Anvil { child, port });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(ChainError::Config(format!(
                    "anvil exited at start: {status}"
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(ChainError::Config("anvil did not start within 30 s".into()));
            }
        }
    }

    /// The JSON-RPC endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> Result<u16, ChainError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| ChainError::Config(format!("no free port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| ChainError::Config(e.to_string()))?
        .port())
}

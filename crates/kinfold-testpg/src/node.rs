//! PostgreSQL servers that a test starts, kills, copies and promotes itself: a primary that
//! archives its WAL, a base backup recovered to a point in time, a streaming standby.
//!
//! Unlike the process's shared cluster, these keep `fsync` and full-page writes on, as in
//! production: a base backup needs them. Each node has a directory of its own, with `data/`,
//! its `log`, and `archive/` (where a primary's `archive_command` copies WAL). A watcher stops
//! the node and removes the directory once the test process is gone; dropping the node does
//! both at once.

use std::path::{Path, PathBuf};

use super::{as_owner, bindir, chown, free_port, initdb, is_root, run, watch};

pub struct Node {
    bin: PathBuf,
    root: bool,
    dir: PathBuf,
    port: u16,
    password: String,
    running: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A directory for a node, owned by the cluster's user, watched.
    fn empty(password: String) -> Result<Node, String> {
        let bin = bindir()?;
        let root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("kinfold-pgnode-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            .keep();
        std::fs::create_dir(dir.join("archive")).map_err(|e| format!("archive dir: {e}"))?;
        let node = Node {
            port: free_port()?,
            bin,
            root,
            dir,
            password,
            running: false,
        };
        node.own(&node.dir)?;
        watch(&node.bin, node.root, &node.dir, &node.data())?;
        Ok(node)
    }

    fn own(&self, path: &Path) -> Result<(), String> {
        if self.root {
            chown(path)?;
        }
        Ok(())
    }

    /// A new cluster (`initdb`), with `conf` added to its settings (`{archive}` in it stands
    /// for [`Node::archive`]), started.
    pub fn primary(conf: &str) -> Result<Node, String> {
        let mut node = Node::empty(String::new())?;
        node.password = initdb(&node.bin, node.root, &node.dir, &node.data())?;
        node.configure(&conf.replace("{archive}", &node.archive().display().to_string()))?;
        node.start()?;
        Ok(node)
    }

    /// A base backup of `from` (`pg_basebackup`, WAL streamed alongside), not started: add
    /// its recovery settings and signal file, then [`Node::start`] it.
    pub fn base_backup(from: &Node) -> Result<Node, String> {
        let node = Node::empty(from.password.clone())?;
        let mut c = as_owner(node.root, &node.bin.join("pg_basebackup"));
        c.arg("-D")
            .arg(node.data())
            .args(["-X", "stream", "--checkpoint=fast", "--no-sync"])
            .arg(format!(
                "--dbname=postgres://postgres@127.0.0.1:{}/postgres",
                from.port
            ))
            .env("PGPASSWORD", &from.password);
        run(c, "pg_basebackup")?;
        Ok(node)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where this node's `archive_command` may copy WAL (`cp %p ARCHIVE/%f`).
    pub fn archive(&self) -> PathBuf {
        self.dir.join("archive")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password, for `primary_conninfo`.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The superuser's URL for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Adds `conf` to `postgresql.auto.conf`, read at the next start.
    pub fn configure(&self, conf: &str) -> Result<(), String> {
        use std::io::Write;
        let path = self.data().join("postgresql.auto.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        writeln!(f, "\n{conf}").map_err(|e| format!("{}: {e}", path.display()))?;
        self.own(&path)
    }

    /// Creates `recovery.signal` or `standby.signal`.
    pub fn signal(&self, name: &str) -> Result<(), String> {
        let path = self.data().join(name);
        std::fs::write(&path, b"").map_err(|e| format!("{name}: {e}"))?;
        self.own(&path)
    }

    pub fn start(&mut self) -> Result<(), String> {
        let mut start = as_owner(self.root, &self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
                self.port
            ))
            .args(["-w", "-t", "120", "start"]);
        run(start, "pg_ctl start").map_err(|e| format!("{e}\nlog: {}", self.log()))?;
        self.running = true;
        Ok(())
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&mut self) -> Result<(), String> {
        let mut stop = as_owner(self.root, &self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate", "-w"]);
        run(stop, "pg_ctl stop")?;
        self.running = false;
        Ok(())
    }

    /// Promotes a standby, waiting until it takes writes.
    pub fn promote(&self) -> Result<(), String> {
        let mut c = as_owner(self.root, &self.bin.join("pg_ctl"));
        c.arg("-D")
            .arg(self.data())
            .args(["promote", "-w", "-t", "60"]);
        run(c, "pg_ctl promote")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.running {
            let _ = self.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

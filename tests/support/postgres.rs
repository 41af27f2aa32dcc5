//! A throwaway PostgreSQL server for a test: `initdb` into a temporary
//! directory, `pg_ctl start` on a free loopback port (fsync off), stopped
//! and removed when dropped. Run as the `postgres` user when the tests run
//! as root (PostgreSQL refuses root). Queries go through `psql`, the real
//! client.

use std::path::PathBuf;
use std::process::Command;

/// Where PostgreSQL's server programs are: `pg_config --bindir`, else the
/// newest `/usr/lib/postgresql/N/bin`.
fn bindir() -> PathBuf {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|d| d.join("initdb").exists());
    from_config
        .or_else(|| {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|d| d.join("initdb").exists())
                .collect();
            dirs.sort();
            dirs.pop()
        })
        .expect("PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql-15 (.ci/run does)")
}

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Postgres {
    /// A server program run as the right user.
    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new().prefix("ayni-pg").tempdir().expect("tempdir");
        let pg = Postgres { bin: bindir(), port: free_port(), dir };
        if as_root() {
            let ok = Command::new("chown").args(["-R", "postgres:"]).arg(pg.dir.path()).status().expect("chown");
            assert!(ok.success(), "chown the data directory to postgres");
        }
        let data = pg.dir.path().join("data");
        let out = pg
            .program("initdb")
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            pg.port,
            pg.dir.path().display()
        );
        let out = pg
            .program("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-w", "-l"])
            .arg(pg.dir.path().join("log"))
            .arg("start")
            .output()
            .expect("run pg_ctl");
        assert!(out.status.success(), "pg_ctl start: {}\n{}", String::from_utf8_lossy(&out.stderr), pg.log());
        pg
    }

    /// Writes a file the server reads (a certificate, a key) into its
    /// data directory: owned by the server's user, readable by it alone.
    pub fn install(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join("data").join(name);
        std::fs::write(&path, contents).expect("write a server file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        if as_root() {
            let ok = Command::new("chown").arg("postgres:").arg(&path).status().expect("chown");
            assert!(ok.success(), "chown {}", path.display());
        }
        path
    }

    /// Sets server settings (`ALTER SYSTEM`), replaces `pg_hba.conf` when
    /// given, and reloads: for settings a reload applies (TLS among them).
    pub fn reconfigure(&self, settings: &[(&str, &str)], hba: Option<&str>) {
        for (name, value) in settings {
            self.query("postgres", &format!("ALTER SYSTEM SET {name} = '{}'", value.replace('\'', "''")));
        }
        if let Some(hba) = hba {
            self.install("pg_hba.conf", hba);
        }
        self.query("postgres", "SELECT pg_reload_conf()");
        // the reload is a signal: wait until the settings read back (the
        // postmaster rereads pg_hba.conf on the same signal)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for (name, value) in settings {
            while self.query("postgres", &format!("SELECT current_setting('{name}')")) != *value {
                assert!(std::time::Instant::now() < deadline, "the server did not take {name} = {value}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A connection URL for database `db` (`postgres` exists from the start).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql; returns its rows, `|`-separated, one per line.
    pub fn query(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql").exists().then(|| self.bin.join("psql")).unwrap_or("psql".into()))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", &self.url(db), "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .program("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

"""A throwaway PostgreSQL cluster (a DuckLake's catalog) for the tests and the benchmarks.

Like :mod:`gridpatrol.broker` for Mosquitto: the binaries of the Debian package
``postgresql`` are found on PATH or under /usr/lib/postgresql/*/bin; the cluster lives in a
temporary folder, listens on 127.0.0.1 and a free port, trusts local connections (or, with a
password, asks it over TCP, as a real server would) and skips fsync (its data is thrown away). PostgreSQL refuses to run as root: as root, every command
runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from base.errors import GridpatrolError
from gridpatrol.broker import free_port

DEBIAN_PACKAGE = "postgresql"
SUPERUSER = "postgres"


class PostgresError(GridpatrolError):
    """PostgreSQL is missing or did not start."""


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    return next((Path(d) for d in dirs if os.path.exists(f"{d}/initdb")), None)


class PostgresCluster:
    """``start()``, then ``create_database(name)`` and ``attach(name)`` per lake; ``cleanup()``."""

    def __init__(self, *, also_on: str | None = None, password: str | None = None) -> None:
        # also_on: an address to listen on besides loopback, trusting its /24 (a test's
        # other "hosts" on a bridge); password: the superuser's, asked of TCP connections
        # (scram-sha-256) and put in attach()'s connection string
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresError(
                f"PostgreSQL not found (initdb, pg_ctl); install the Debian package "
                f"{DEBIAN_PACKAGE!r}"
            )
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="gridpatrol-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.also_on = also_on
        self.password = password
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            self._as_postgres = ["runuser", "-u", SUPERUSER, "--"]
            os.chmod(self.folder, 0o755)

    def _run(self, *args: str, stdin: str | None = None) -> None:
        env = dict(os.environ, PGPASSWORD=self.password) if self.password else None
        done = subprocess.run(
            [*self._as_postgres, *args], capture_output=True, text=True, input=stdin, env=env
        )
        if done.returncode:
            raise PostgresError(f"{' '.join(args)} failed: {done.stderr.strip()}")

    def start(self) -> PostgresCluster:
        """Create the cluster on first start; start it (again, after :meth:`stop`)."""
        if not self.data.exists():
            self.data.mkdir(mode=0o700)
            if self._as_postgres:
                shutil.chown(self.data, SUPERUSER)
            auth = ["-A", "trust"]
            if self.password is not None:
                pwfile = self.folder / "pwfile"
                pwfile.write_text(self.password + "\n")
                if self._as_postgres:
                    shutil.chown(pwfile, SUPERUSER)
                auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                *auth,
                "-U",
                SUPERUSER,
                "--no-sync",
            )
            if self.also_on is not None:
                network = self.also_on.rsplit(".", 1)[0] + ".0/24"
                with open(self.data / "pg_hba.conf", "a") as hba:
                    hba.write(f"host all all {network} trust\n")
        listen = ",".join(["127.0.0.1", *([self.also_on] if self.also_on else [])])
        options = (
            f"-k {self.data} -p {self.port} -c listen_addresses={listen} "
            "-c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data / "server.log"),
            "-o",
            options,
            "start",
        )
        return self

    def create_database(self, name: str) -> None:
        self._run(
            str(self.bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            name,
        )

    def sql(self, database: str, statement: str) -> None:
        self._run(
            str(self.bin_dir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            statement,
        )

    def load(self, database: str, script: str) -> None:
        """Run an SQL script (e.g. a plain pg_dump) in ``database``."""
        self._run(
            str(self.bin_dir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            stdin=script,
        )

    def attach(self, database: str, address: str = "127.0.0.1") -> str:
        """The ``--db`` of a lake whose catalog is this database (reached at ``address``)."""
        host = f"host={address} port={self.port} user={SUPERUSER}"
        if self.password is not None:
            host += f" password={self.password}"
        return f"ducklake:postgres:dbname={database} {host}"

    def stop(self) -> None:
        """Stop at once, as a crash would (the data stays for a new :meth:`start`)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

import { DtError } from "../common/errors.ts";

/**
 * systemd units for a dt host: dt-master.service, dt-isolate-server.service
 * and the template dt-slave@.service (`dt-slave@1`, `dt-slave@2`, … on one
 * host, sharing one blob cache). `dt systemd-units` prints them; the repo
 * ships them with the defaults in systemd/.
 *
 * Paths come from systemd's environment ($STATE_DIRECTORY, $CACHE_DIRECTORY)
 * and per-host flags from optional environment files, so a unit never needs
 * editing on a host and its ExecStart runs as is in a test.
 */

export interface UnitOptions {
  /** The account the services run as; made by the operator (`useradd --system`). */
  user: string;
  /** dt's INI config, given to every service as DIST_TEST_CNF. */
  config: string;
  /** The dt executable. */
  binary: string;
}

export const DEFAULT_UNIT_OPTIONS: UnitOptions = { user: "dt", config: "/etc/dt/dt.cnf", binary: "/usr/local/bin/dt" };

export interface UnitFile {
  /** The file name, e.g. `dt-slave@.service`. */
  name: string;
  text: string;
}

/**
 * After SIGTERM, how long a slave's running tasks may go on: `dt slave`'s own
 * default, written into ExecStart so that it sits beside TimeoutStopSec.
 */
export const SLAVE_DRAIN_TIMEOUT_SEC = 600;
/** A task still running at the drain timeout gets SIGTERM, then SIGKILL this much later (dt slave's grace period). */
const TASK_KILL_GRACE_SEC = 5;
/** After the kills: uploading the killed tasks' logs and artifacts and reporting them to the master. */
const SLAVE_REPORT_SEC = 55;
/** systemd's SIGKILL must not cut a drain short: drain, kill grace and reporting, 11 minutes. */
export const SLAVE_STOP_TIMEOUT_SEC = SLAVE_DRAIN_TIMEOUT_SEC + TASK_KILL_GRACE_SEC + SLAVE_REPORT_SEC;
/** Servers give in-flight requests 10 s after SIGTERM, then close their stores: 30 s covers both. */
const SERVER_STOP_TIMEOUT_SEC = 30;

/**
 * The three units, in the order `dt systemd-units` prints them.
 *
 * @example
 *   renderUnits({ ...DEFAULT_UNIT_OPTIONS, user: "ci" }).map((u) => u.name);
 *   // ["dt-master.service", "dt-isolate-server.service", "dt-slave@.service"]
 */
export function renderUnits(options: UnitOptions): UnitFile[] {
  checkUnitOptions(options);
  return [
    { name: "dt-master.service", text: masterUnit(options) },
    { name: "dt-isolate-server.service", text: isolateServerUnit(options) },
    { name: "dt-slave@.service", text: slaveUnit(options) },
  ];
}

function header(name: string): string {
  return `# ${name}: made by \`dt systemd-units\`. Change it on a host with a drop-in
# (systemctl edit ${name}), not here: a new dt may ship a new unit.
`;
}

/** Hardening of the two servers: they read their config and write their state directory, nothing else. */
const SERVER_SANDBOX = `NoNewPrivileges=yes
# No capabilities at all: a port below 1024 would need CAP_NET_BIND_SERVICE here and in
# AmbientCapabilities=.
CapabilityBoundingSet=
PrivateTmp=yes
PrivateMounts=yes
# All of / read-only but StateDirectory. A --data-dir elsewhere (in the env file) needs
# ReadWritePaths=DIR in a drop-in.
ProtectSystem=strict
ProtectHome=yes
PrivateDevices=yes
ProtectProc=invisible
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RemoveIPC=yes
# Unix sockets for a MySQL socket (?socket=PATH), inet for clients, MySQL, beanstalkd and S3.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
# Every call strace saw a master and an isolate server make is in @system-service; another
# fails with EPERM (which Bun reports) rather than killing the server.
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# No MemoryDenyWriteExecute=: Bun's JIT writes machine code at run time.
# Logs, artifacts and blobs are not for other local users.
UMask=0027
`;

function masterUnit(o: UnitOptions): string {
  return `${header("dt-master.service")}
[Unit]
Description=dt master: job API, scheduler, web view, CAS and artifacts
# A --db, --queue or --cas-store on another host must be reachable at start.
Wants=network-online.target
After=network-online.target

[Service]
# exec: a binary that cannot be run fails the start, not some later step.
Type=exec
User=${o.user}
Environment=DIST_TEST_CNF=${o.config}
# Per-host flags without editing this unit, split into words, e.g.
#   DT_MASTER_ARGS=--port 8081 --public-url http://dt.example.com:8081
# The leading "-": the file is optional.
EnvironmentFile=-/etc/dt/master.env
# /var/lib/dt/master: database (SQLite), CAS, logs and artifacts. Made and chowned by systemd.
StateDirectory=dt/master
ExecStart=${o.binary} master --data-dir \${STATE_DIRECTORY} $DT_MASTER_ARGS
# SIGHUP re-reads the access policy (allowed_ip_ranges, accounts, ...) from DIST_TEST_CNF
# without dropping a connection; a file that does not load is logged and the old policy kept.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
# Not a tight loop while the database or the port is not there yet.
RestartSec=5s
# In-flight requests get 10 s after SIGTERM, then the stores close.
TimeoutStopSec=${timeSpan(SERVER_STOP_TIMEOUT_SEC)}
# Every slave holds a connection (its lease long-poll), and one more while it beats: 10,000
# slaves are about 20,000 sockets (docs/scaling.md). Bun raises its soft limit to the hard one.
LimitNOFILE=65536

${SERVER_SANDBOX}
[Install]
WantedBy=multi-user.target
`;
}

function isolateServerUnit(o: UnitOptions): string {
  return `${header("dt-isolate-server.service")}
[Unit]
Description=dt isolate server: a content-addressed store (CAS) apart from the master
# An S3 --store must be reachable at start.
Wants=network-online.target
After=network-online.target

[Service]
# exec: a binary that cannot be run fails the start, not some later step.
Type=exec
User=${o.user}
Environment=DIST_TEST_CNF=${o.config}
# Per-host flags, split into words, e.g. DT_ISOLATE_SERVER_ARGS=--port 4242 --max-size 500GB
# The leading "-": the file is optional.
EnvironmentFile=-/etc/dt/isolate-server.env
# /var/lib/dt/cas: the blobs. State, not cache: jobs in flight need them.
StateDirectory=dt/cas
ExecStart=${o.binary} isolate-server --data-dir \${STATE_DIRECTORY} $DT_ISOLATE_SERVER_ARGS
# SIGHUP re-reads the access policy from DIST_TEST_CNF; a file that does not load is logged
# and the old policy kept.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
# In-flight requests get 10 s after SIGTERM, then the stores close.
TimeoutStopSec=${timeSpan(SERVER_STOP_TIMEOUT_SEC)}

${SERVER_SANDBOX}
[Install]
WantedBy=multi-user.target
`;
}

function slaveUnit(o: UnitOptions): string {
  return `${header("dt-slave@.service")}
[Unit]
Description=dt slave %i: runs test tasks leased from the dt master
Wants=network-online.target
# After the master: on a host that runs both, slaves stop first and report to a live master.
After=network-online.target dt-master.service

[Service]
# exec: a binary that cannot be run fails the start, not some later step.
Type=exec
User=${o.user}
Environment=DIST_TEST_CNF=${o.config}
# Flags for every slave on this host, DT_SLAVE_ARGS in slave.env, then for this instance,
# DT_SLAVE_INSTANCE_ARGS in slave-%i.env; split into words, both files optional. e.g.
#   DT_SLAVE_ARGS=--master http://dt.example.com:8081 --slots 8 --dimensions pool=linux
# dt's environment variables go there too. A metrics port must differ per instance, so it
# goes in slave-%i.env, e.g. DT_METRICS_LISTEN=127.0.0.1:9101 in slave-1.env.
EnvironmentFile=-/etc/dt/slave.env
EnvironmentFile=-/etc/dt/slave-%i.env
# /var/cache/dt/slaves, shared by every instance: one blob cache (several processes may share
# it), and run directories beside it on the same file system, as files are hardlinked from it.
CacheDirectory=dt/slaves
# --name: unique per instance, as the master tells slaves apart by name.
# --drain-timeout: on SIGTERM no new work; running tasks get this long, then are killed.
ExecStart=${o.binary} slave --name %H-%i --cache-dir \${CACHE_DIRECTORY}/isolate --root-dir \${CACHE_DIRECTORY}/runs/%i --drain-timeout ${SLAVE_DRAIN_TIMEOUT_SEC / 60}m $DT_SLAVE_ARGS $DT_SLAVE_INSTANCE_ARGS
# No ExecReload: a slave reads its settings once, and SIGHUP would end it. Restart it instead:
# that drains it first.
Restart=on-failure
RestartSec=5s
# Stop = drain: SIGTERM to dt alone (tasks are its to stop), and whatever tasks left behind gets
# SIGKILL once dt has exited. A crash (dt SIGKILLed or OOM-killed) is the same without the drain:
# the rest of the instance's cgroup, setsid'ed daemons too, gets SIGKILL at once, and the restart
# waits until it is empty; the restarted dt removes the run directories they left.
KillMode=mixed
# Above --drain-timeout (${SLAVE_DRAIN_TIMEOUT_SEC / 60}m) + the tasks' SIGTERM-to-SIGKILL grace (${TASK_KILL_GRACE_SEC}s) + reporting them,
# so systemd never kills a slave that is still draining.
TimeoutStopSec=${timeSpan(SLAVE_STOP_TIMEOUT_SEC)}
# Test suites open many files; systemd's default soft limit is 1024.
LimitNOFILE=65536

# Tests are arbitrary programs: this keeps them off the system and other users' files, and
# no more. Left out on purpose:
#   ProtectSystem=strict: suites write where their build expects ($HOME, /var/tmp, a scratch
#     dir); Unix permissions already keep them to what ${o.user} owns.
#   PrivateDevices, and ProtectClock (before systemd 253 it implies DeviceAllow=char-rtc r,
#     which shuts every other device): tests may need /dev/fuse, /dev/kvm or a GPU.
#   RestrictNamespaces: sandboxes under test (Chromium's, bubblewrap, unshare).
#   LockPersonality: ThreadSanitizer and AddressSanitizer call personality(ADDR_NO_RANDOMIZE).
#   SystemCallFilter, SystemCallArchitectures, RestrictAddressFamilies: a test may use any
#     syscall (32-bit ones too) or socket.
#   MemoryDenyWriteExecute: Bun's JIT, and the tests' (JVM, V8, LuaJIT).
# A setuid or file-capability binary (sudo, ping) does not raise a test's privileges.
NoNewPrivileges=yes
# Each instance its own /tmp and /var/tmp, emptied when it stops.
PrivateTmp=yes
# /usr, /boot, /efi and /etc read-only.
ProtectSystem=full
# /home, /root and /run/user: people's files. ${o.user}'s home must be elsewhere (/var/lib/dt).
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
# SysV and POSIX IPC objects that tests leave behind go once the last unit running as
# ${o.user} stops (systemd waits for all of them, so other instances keep theirs).
RemoveIPC=yes

[Install]
WantedBy=multi-user.target
`;
}

/** `660` → `11min`, `30` → `30s`: systemd's spelling of a time span. */
function timeSpan(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60}min` : `${seconds}s`;
}

/**
 * Values go into units unquoted: a path with a blank, a quote, `%`
 * (a specifier) or `$` (a variable) would mean something else there.
 */
function checkUnitOptions(o: UnitOptions): void {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(o.user)) {
    throw new DtError("invalid_input", `--user: ${JSON.stringify(o.user)} is not a system user name (lower-case letters, digits, _ and -, up to 32, not starting with a digit or -)`);
  }
  for (const [flag, path] of [["--config", o.config], ["--binary", o.binary]] as const) {
    if (!/^\/[A-Za-z0-9._+,:@/-]*$/.test(path) || path.split("/").includes("..")) {
      throw new DtError("invalid_input", `${flag}: ${JSON.stringify(path)} must be an absolute path of letters, digits and ._+,:@/- (no blanks, quotes, %, $ or ..), as systemd reads it unquoted`);
    }
  }
}

// Package server is the CITYARRAY control-server daemon (DESIGN §2,
// "server"): the mesh node with its embedded MQTT broker (and optionally a
// gossip link), the record store and the server state, the signed audit
// log, people and access (server/auth), the alert desk (server/desk) and
// the fleet (server/fleet), and the operator API over HTTPS.
// `cityarray server` (cmd/cityarray/cli) runs it; `cityarray alert` is its
// command-line client.
//
//	cfg, err := server.LoadConfig("/etc/cityarray/server.yaml") // defaults < file
//	cfg.HTTP.Listen = flagValue; cfg.SetSource("http.listen", "--http-listen") // < flags
//	srv, err := server.New(cfg, logger)  // validates, opens and binds everything
//	err = srv.Run(ctx)                   // until ctx ends; then closes everything
//
// # The configuration file
//
// YAML, decoded strictly: an unknown key, a value of the wrong type or a
// second document is an error naming FILE:LINE and the field. Defaults
// come from DefaultConfig, the file overrides them, and the command line
// overrides the file (--data-dir, --http-listen, --mqtt-listen). Validate
// reports every problem at once, each with where its value came from;
// `cityarray server --check-config` prints them, checks that the files
// named exist and fit (CheckFiles), and exits 0 or 1. Relative paths are
// taken from the file's directory. Durations are Go durations ("30s",
// "12h").
//
//	data_dir: /var/lib/cityarray/server   # everything the server writes (default shown)
//	pki:
//	  dir: /etc/cityarray/pki     # fills the four paths below when they are empty:
//	  server_id: server-1         #   dir/root.pem, dir/city.pem, dir/<id>.pem, dir/<id>.key
//	  root_cert: ""               # the city root certificate
//	  city_cert: ""               # the city CA certificate
//	  server_cert: ""             # this server's certificate (leaf, then city CA): role server
//	  server_key: ""              # its Ed25519 key (mode 0600)
//	  passphrase_env: ""          # name of an env variable holding the key's passphrase, or
//	  passphrase_file: ""         # a file holding it; never the passphrase itself
//	  city_key: ""                # the city CA's key, optional (see # The city CA key); default dir/city.key if present
//	  city_passphrase_env: ""     # where its passphrase is read, as for the server key
//	  city_passphrase_file: ""
//	  trusted_clock: true         # NTP-synchronised: refuse records issued in the future
//	http:
//	  listen: ":8443"             # the API (HTTPS)
//	  insecure_http_loopback: false # plain HTTP, development only; refused unless listen is loopback
//	  tls:
//	    cert_file: ""             # a browser-trusted certificate and key (PEM), or else
//	    key_file: ""
//	    self_signed_hosts: [localhost] # a self-signed one for these names/addresses, made on first run
//	  public_url: ""              # how operators reach the server, for `server init` (default from the above)
//	  max_body_bytes: 65536       # request body cap: 413 beyond it
//	  read_header_timeout: 10s
//	  read_timeout: 30s
//	  write_timeout: 60s
//	  idle_timeout: 2m
//	  shutdown_timeout: 5s        # how long a stop waits for requests in flight
//	mqtt:
//	  listen: ":8883"             # the embedded broker: mutual TLS with city certificates
//	  message_expiry: 72h         # at least 48h, the edge cache lifetime
//	  session_expiry: 72h
//	gossip:
//	  enabled: false              # make the server a gossip member too
//	  bind: 0.0.0.0:7946
//	  advertise: ""               # IP:port to tell peers, behind NAT
//	  peers: []                   # host:port to join at start; the re-join loop keeps trying
//	  keyring_file: ""            # base64 AES keys, one per line, first encrypts (mode 0600); required
//	  label: ""                   # default: the city name of the root certificate
//	auth:
//	  issuer: CITYARRAY           # the name authenticator apps show
//	  session_idle: 30m
//	  session_max: 12h
//	  setup_ttl: 24h              # setup codes (init, user creation, reset)
//	  max_token_lifetime: 8784h
//	  lockout: {threshold: 5, base: 1m, max: 1h}
//	  trusted_origins: []         # other origins allowed to send cookie requests
//	  ip_allow:                   # per role; a role not listed may come from anywhere
//	    admin: [10.20.0.0/16, 192.0.2.7]
//	  rate_limits:                # token buckets: {every: D, burst: N}; both 0 = unlimited
//	    login_per_ip: {every: 2s, burst: 20}      # password, setup and re-authentication attempts
//	    login_per_user: {every: 6s, burst: 10}
//	    request_per_ip: {every: 10ms, burst: 200} # authenticated requests
//	    request_per_user: {every: 20ms, burst: 100}
//	    http_per_ip: {every: 20ms, burst: 100}    # every request, before authentication
//	    max_keys: 10000                           # addresses/users remembered per table
//	audit:
//	  dir: ""                     # default <data_dir>/audit
//	  key_name: ""                # checkpoint signer name, default cityarray-audit/<server id>
//	runtime:                      # the Go runtime of `cityarray server` (GOGC, GOMEMLIMIT win)
//	  gc_percent: 400             # heap growth before a collection; -1 off (needs a limit)
//	  memory_limit_mib: 0         # soft memory limit; 0 none
//
// A minimal file, with a PKI made by `cityarray keys init --dir pki --city
// NAME` and `cityarray keys issue --dir pki --role server --id server-1`:
//
//	data_dir: data
//	pki: {dir: pki, server_id: server-1}
//	http:
//	  tls: {self_signed_hosts: [ops.example.org]}
//
// Config.Hooks (clock, randomness, password hash cost, gossip timing) can
// only be set by a program that embeds the server, such as tests.
//
// # The city CA key
//
// The server signs with its own key (alerts, commands, protocols) and, for
// an Emergency, with the key of the officer who approved it, which the desk
// keeps sealed (server/desk). Two operations need the city CA itself:
// certifying a new officer key (POST /api/v1/officers/{id}/key) and
// signing a device revocation (POST /api/v1/devices/{id}/revoke). The CA
// key reaches the server the way the server key does: a key file
// (pki.city_key, by default city.key in pki.dir, as `cityarray keys init`
// writes it), encrypted with the passphrase given to `keys init`, which the
// server reads from the environment variable pki.city_passphrase_env or
// the file pki.city_passphrase_file, never from the configuration or a
// flag. It is optional and a trade-off: a CA key on an online machine lets
// whoever takes that machine certify officers, so a city that keeps its CA
// offline leaves city.key out of the server's pki.dir; the two endpoints
// then answer 503 no-city-ca, officer keys are made offline (`cityarray
// keys issue --role operator`) and revocations signed with `cityarray keys
// revoke`. A key named explicitly (city_key, or a passphrase source) must
// open, or the server does not start; one found only by default that does
// not open is skipped with a warning. Its certificate (pki.city_cert) is
// used either way: it checks officer certificates and travels in officer
// signatures.
//
// # Lifecycle
//
// New validates the configuration, then opens and binds, in order: the
// data directory (created 0700; refused if group or others may write
// it), the PKI (the server certificate must name a server and chain to the
// root through the city CA; the key must match it), the data and CSRF keys,
// the record store (mesh/store), the server state (a second bbolt file),
// the audit log (signed with the server key), auth, the mesh node (its
// verifier state in the data dir; GOMAXPROCS verify workers, so that acks
// are checked on every core: mesh.NodeConfig.VerifyWorkers), the fleet and
// the alert desk (their buckets in the server state; the city CA key if
// configured), the MQTT broker (its link added to the
// node; listening from here on), the gossip link if enabled, and the HTTP
// listener, generating the self-signed web certificate if it needs one
// (and logging that browsers will warn). Whatever fails, New closes what it
// opened and says what and why. Binding in New means a port in use fails at
// start-up, and tests learn the kernel's ports before Run.
//
// Run runs the components as execute/interrupt pairs, as prometheus does
// with run.Group: the HTTP server, gossip, the broker, a maintenance loop
// (record and session sweeps every minute), audit checkpoints (a signed
// tree head every minute the log grew), the desk's renewal (desk.Renew
// every minute: warnings re-issued before displays drop them, expiries,
// protocol refreshes, records whose hand-off to the mesh failed; and every
// hour fleet.Prune of the deliveries of alerts published more than 30
// days ago), the
// fleet's flush (fleet.Flush every second: acks and health reports to
// disk; once more after everything stopped; after a crash, New restores
// the rest from the record store with desk.Retrack and fleet.Replay), the
// registration of devices
// first seen (below) and the node. When the context
// ends or any component fails, every component is interrupted in that
// order (the API finishes requests in flight for up to
// http.shutdown_timeout first), and then the files are closed (the audit
// log writes a last checkpoint). The library installs no signal handler:
// the command cancels the context on SIGINT and SIGTERM. Ready says whether
// the server can work (serving, stores answering, broker up, audit log
// taking appends); /readyz reports the same per component. Close releases a
// server whose Run was never called.
//
// Every record the node accepts reaches the fleet (fleet.Observe, on the
// node's goroutine: acks, health reports, revocations). A device whose
// record the node accepted but that the registry does not know yet is
// registered from its certificate: the record's x5chain, or the
// verifier's copy of a chain it verified before (trust.Verifier.Certificate)
// when the record names its signer by kid; the registration, which writes
// to disk, runs on a goroutine of its own. The desk publishes through the
// node and tells the fleet (its Tracker) which records belong to which
// alert before the node has them, so no ack arrives unknown. The desk's
// data key (sealing officer keys) is derived from server.keys' DataKey for
// that purpose alone.
//
// # First run
//
// There is never a default password. `cityarray server init --config
// FILE` (Init) creates the data directory and keys and the first admin
// through auth.Service.Bootstrap, and prints a one-time setup code, valid
// auth.setup_ttl. With the server running, that person posts the code to
// POST /api/v1/setup/start (and gets a TOTP secret and otpauth:// URL for an
// authenticator app), then to POST /api/v1/setup/finish with a password
// and a first TOTP code (and gets ten recovery codes, shown once). Init
// refuses once any user exists, and while a server holds the data
// directory.
//
// # HTTP conventions
//
// JSON over HTTPS. Every endpoint is in the OpenAPI 3.1 document at GET
// /api/openapi.json. Every response carries X-Request-Id, which the access
// log, the audit log and problem documents repeat, and security headers
// (nosniff, no framing, no referrer, a CSP that allows nothing, no-store,
// and HSTS over TLS).
//
// Authentication: a browser logs in with POST /api/v1/login (user,
// password, TOTP code) and gets the session cookie (__Host-cityarray_session:
// HttpOnly, Secure, SameSite=Strict) and, in the body, its CSRF token, which
// every state-changing request made with the cookie must send in the
// X-CSRF-Token header; cross-site requests are refused by Sec-Fetch-Site and
// Origin as well. Programs use an API token from POST /api/v1/tokens in
// "Authorization: Bearer cat_…"; tokens need no CSRF token and can do only
// what their scopes, their user's current role and the token rules allow
// (read, draft, submit; never approve, publish, sign or manage).
//
// Authorisation is deny by default: each route names one permission
// (Handle panics without a valid one) or is explicitly public or open to
// any signed-in user; auth.Allowed is the whole matrix, and TestRBACWalk
// checks every registered route against it for every role. IP allowlists
// per role (auth.ip_allow) apply at login and on every request. /metrics is
// readable without authentication from a loopback address, and elsewhere
// with metrics.read. The client address is the TCP peer: there is no
// trusted-proxy (X-Forwarded-For) support yet, so a reverse proxy on the
// same host would make every client look like loopback (open metrics, one
// shared rate limit); terminate TLS here instead.
//
// Errors are RFC 9457 problem documents (application/problem+json) with
// type "urn:cityarray:problem:<slug>", title, status, detail and instance
// (the path and request id), and for invalid input an "errors" list naming
// each field (and a JSON Pointer into the body). Auth errors map through
// auth.StatusCode to fixed texts that never tell an unknown user from a
// wrong password; a 500 says only that the request id identifies it in the
// log. Unknown paths are 404 and wrong methods 405 (with Allow), as
// problems too.
//
// Request bodies are decoded by DecodeJSON, for every endpoint that takes
// one: Content-Type application/json (else 415), at most
// http.max_body_bytes (else 413), exactly one JSON value and not null, no
// unknown field, no key given twice (encoding/json would let the last one
// win silently) and every field of its type (else 400 naming the field); endpoints that
// take no input accept no body or {}. Path ids are checked against their
// syntax before any lookup.
//
// Lists are paged: ?limit= (default 50, 1 to 500) and ?cursor=, an opaque
// token from the previous page's next_cursor (absent on the last page),
// bound by a MAC to its list; the body is {"items": [...], "next_cursor":
// "..."}.
//
// Rate limits: every request passes a per-address token bucket before
// anything else (auth.rate_limits.http_per_ip); authenticated requests
// also pass auth's per-address and per-user buckets, and login, setup and
// re-authentication attempts their own, with lockout after repeated
// failures. A refusal is 429 with Retry-After.
//
// Audit: auth writes its own events (logins, setups, role changes, token
// use…); a gateway's Advisory records (alerts, updates, activations,
// cancels) are entered as they arrive, advisory.<kind> by the gateway, with
// the zone, the text, the issue time and how long they took to arrive (a
// gateway issues them while the server is unreachable; they come when its
// link returns); on top of that, every request that is refused (401, 403, 423,
// 429), rejected as invalid on a known route, fails with a 5xx, or changes
// state gets an entry: actor, role, action request.refused /
// request.invalid / request.error / request.done, the path, and method,
// route, status, request id and problem type. So that a flood cannot fill
// the disk, the pre-authentication limiter audits only the first refusal
// per address per minute, with the count of those it did not. Audit
// entries never hold bodies, passwords, codes, tokens or cookies, and
// neither does the access log, which records request id, method, route,
// path, status, size, duration, address and user.
//
// # Endpoints
//
//	GET    /healthz                       liveness (public)
//	GET    /readyz                        readiness by component (public)
//	GET    /metrics                       Prometheus (loopback, or metrics.read)
//	GET    /api/openapi.json              the API description (public)
//	POST   /api/v1/setup/start            setup code → TOTP secret (public)
//	POST   /api/v1/setup/finish           setup code, password, TOTP → recovery codes (public)
//	POST   /api/v1/login                  user, password, TOTP → cookie + CSRF token (public)
//	POST   /api/v1/logout                 end this session (signed in)
//	POST   /api/v1/reauth                 fresh TOTP, for emergency co-signing (signed in)
//	GET    /api/v1/me                     who am I, what may I do (signed in)
//	POST   /api/v1/password               change my password (signed in, session)
//	GET    /api/v1/users                  list (user.read)
//	POST   /api/v1/users                  create; returns a setup code (user.manage)
//	GET    /api/v1/users/{id}             one user (user.read)
//	POST   /api/v1/users/{id}/role        role and zones (user.manage)
//	POST   /api/v1/users/{id}/disable     and enable, unlock, reset (user.manage)
//	GET    /api/v1/tokens                 list, ?user= (token.manage)
//	POST   /api/v1/tokens                 create; the secret once (token.manage)
//	DELETE /api/v1/tokens/{id}            revoke (token.manage)
//	GET    /api/v1/audit                  entries, ?from=&limit=&cursor= (audit.read)
//	GET    /api/v1/audit/proof/{n}        inclusion proof against a signed checkpoint (audit.read)
//
//	POST   /api/v1/alerts                 draft a Warning or Emergency (alert.draft, in scope)
//	GET    /api/v1/alerts                 list, ?state=&limit=&cursor= (alert.read)
//	GET    /api/v1/alerts/{id}            one, with its history and records (alert.read)
//	PUT    /api/v1/alerts/{id}            edit a draft (alert.draft, its author)
//	POST   /api/v1/alerts/{id}/submit     (alert.submit)
//	POST   /api/v1/alerts/{id}/approve    (alert.approve; two-person rule; an officer for an Emergency)
//	POST   /api/v1/alerts/{id}/reject     back to draft with a reason (alert.approve)
//	POST   /api/v1/alerts/{id}/publish    sign and send (alert.publish; an Emergency: fresh TOTP)
//	POST   /api/v1/alerts/{id}/update     new message or expiry (alert.publish; an Emergency: fresh TOTP)
//	POST   /api/v1/alerts/{id}/cancel     withdraw (alert.cancel, or alert.draft for one's own unpublished alert)
//	GET    /api/v1/alerts/{id}/status     delivery counts: received, displayed, played, failed, not reached (alert.read)
//	GET    /api/v1/alerts/{id}/deliveries per device, ?state=&limit=&cursor= (alert.read)
//	GET    /api/v1/protocols              every protocol (protocol.read)
//	POST   /api/v1/protocols              create or save a new version (protocol.manage)
//	GET    /api/v1/protocols/{name}       one (protocol.read)
//	POST   /api/v1/protocols/{name}/publish and /retire (protocol.manage)
//	GET    /api/v1/devices                ?zone=&limit=&cursor= (device.read)
//	GET    /api/v1/devices/{id}           one (device.read)
//	POST   /api/v1/devices/{id}/revoke    revocation signed by the city CA (device.revoke)
//	POST   /api/v1/devices/{id}/command   test pattern, brightness, volume: a signed command record (device.command)
//	POST   /api/v1/officers/{id}/key      create an officer's signing key (user.manage; the city CA key)
//	GET    /api/v1/officers/{id}/key      its certificate and fingerprint (user.read)
//	DELETE /api/v1/officers/{id}/key      remove it (user.manage)
//
// The desk and the fleet check permission and scope themselves as well
// (server/desk, server/fleet); their refusals map through their
// StatusCode to problem types: validation (400, or 422 for content the
// desk refuses, with the field named), not-found, forbidden, out-of-scope
// (a zone_operator outside its zones), two-person-rule, wrong-state,
// no-officer-key, unsupported-tier, refused-by-mesh (502: nothing was
// published), not-delivered (503: signed and recorded, sent with the next
// renewal; do not publish again), no-city-ca (503), and reauth-required:
// 401 when an officer's key would sign an Emergency more than 5 minutes
// after the session's last TOTP entry; the client sends a current code to
// POST /api/v1/reauth and retries the same request. Alert ids are 16
// characters of a-z and 2-7; protocol names and device ids follow the
// record format's node id syntax; both are checked before any lookup.
// Bodies are decoded as everywhere (DecodeJSON: media type, size, one
// value, no unknown field, no key twice, not null) and then by the desk's
// own strict decoder, which also refuses keys of the wrong case.
//
// # Metrics
//
// On a registry of the server's own: cityarray_http_requests_total{route,
// method,code} and cityarray_http_request_duration_seconds{route,method};
// the node's cityarray_mesh_records_{received,duplicate,accepted,forwarded}_total,
// cityarray_mesh_records_rejected_total{reason} (every reason, zeros
// included), cityarray_mesh_store_failures_total,
// cityarray_mesh_inbox_dropped_total, cityarray_mesh_bytes_received_total{link};
// the broker's cityarray_mqtt_clients_connected and
// cityarray_mqtt_events_total{event}; the fleet's
// cityarray_fleet_acks_total{outcome} (counted, untracked, mismatched),
// cityarray_fleet_unknown_health_total and cityarray_fleet_devices;
// cityarray_audit_entries,
// cityarray_audit_checkpoint_size, cityarray_audit_appends_total,
// cityarray_audit_append_errors_total; cityarray_server_ready; and the Go
// runtime and process collectors.
//
// # The data directory
//
// Mode 0700, owned by the server's user.
//
//	records.db            0600  mesh/store: signed records, indexes, outbox (bbolt)
//	server.db             0600  server state (bbolt): auth.*, desk.* and fleet.* buckets
//	server.keys           0600  DataKey (seals TOTP secrets in server.db) and CSRFKey (CSRF
//	                            tokens, keyed fingerprints, cursor MACs), 32 random bytes each,
//	                            JSON; made on first run; refused if group or others may read it
//	trust-state.json      0600  the verifier's time floor, replay windows and revocations
//	gossip-peers.json           the gossip peer snapshot (with gossip on)
//	web-selfsigned.pem    0644  the generated web certificate (without tls.cert_file)
//	web-selfsigned.key    0600  its key
//	audit/                0700  the audit log (see server/audit): segments, hashes, checkpoints
//
// server.keys is a plain 0600 file rather than encrypted at rest: a key
// that encrypted it would have to be on the same machine for the server to
// start unattended (a file, an environment variable, or derived from the
// server key), so it would add nothing against whoever can read the data
// directory, and deriving it from the server key would force every user to
// enrol TOTP again when the server certificate is renewed (every two
// years). What the split does give: a copy of server.db alone (a backup, a
// support bundle) reveals no TOTP secret. Back server.keys up separately;
// losing it means every user enrols TOTP again (admin reset).
//
// # Reading the audit log back
//
// server/audit proves single entries but has no reader for a range, so GET
// /api/v1/audit reads the segment files in the layout that package
// documents (live .jsonl and sealed .jsonl.gz, one entry line each, parsed
// with audit.ParseEntry), only up to the size the log had acknowledged when
// the request began, and retries if a segment is sealed while it reads. A
// Log.Entries(from, n) in server/audit would be the better home for this.
package server

// Package fleet is the control server's view of its devices: a registry of
// the poles (from their certificates and health reports), revocation, and
// delivery tracking, which tells for each alert which devices in its scope
// received, displayed, played or failed to show it, and which were not
// reached at all.
//
// It is a library with no routes. The server registers devices as it
// provisions them (Register), feeds it every record its mesh.Node accepts
// (Observe, from mesh.NodeConfig.OnEvent), tells it which records belong to
// which alert (Track: the desk does so for each record it issues, before
// the mesh has it), and calls Flush every second. Handlers read Status,
// Deliveries, Devices and Device after their own permission check
// (alert.read, device.read); Revoke checks device.revoke itself. Every
// method is safe for concurrent use.
//
// # Registry
//
// A device enters the registry through Register with its certificate
// (trust.IdentityOf gives its id and zone; only device certificates are
// taken), or the first time its health report arrives carrying its
// certificate in the x5chain. Its health reports keep LastHeard (the
// server's time of receipt), the device's own time and the report (rung of
// the connectivity ladder, version, temperature, outbox depth…); a report
// older than the one kept is ignored. A health report from a node the
// registry does not know and that carries no device certificate is counted
// (Counters.UnknownHealth) and dropped. A device re-registered with a new
// certificate (re-provisioned) is no longer revoked, since its new serial
// is not.
//
// Revoke (device.revoke, admins) has the city CA in Options sign a
// revocation record for the device's certificate serial
// (trust.NewRevocation), hands it to the publisher, marks the device
// revoked and audits device.revoke; a refusal is audited as
// device.refused. A revocation record's seq is its issue time in
// milliseconds, so Revoke makes issue times strictly increasing (two
// revocations in one millisecond would otherwise replay). Revocations that
// reach the server another way (`cityarray keys revoke`) mark the devices
// too, through Observe. Revoked devices leave every alert's scope: their
// acks would be refused by the mesh anyway.
//
// # Delivery
//
// An ack (record.Ack: record id, device, state, reason, time) counts for
// the alert that owns its record id: the original record, its renewals and
// its updates all belong to the alert. An ack whose device is not its
// signer (the record's origin, which the tier table checks) is dropped and
// counted, as is an ack for a record no alert owns (Counters).
//
// For each device and alert the fleet keeps which ack states it reported,
// the latest time of each, the first ack and the reason of the latest
// failure. A device's delivery state is one of:
//
//	not-reached  no ack at all: the alert did not get there (an offline
//	             pole, a link down); LastHeard says whether it is alive
//	received     acked received (or played) but not displayed
//	displayed    acked displayed, and no failed ack since
//	failed       its latest display outcome is a failed ack, with the
//	             device's reason: it got the alert and could not show it
//
// Status counts the devices in the alert's scope now (city: every
// unrevoked device, zone:Z the zone's, device:D that one, known or not):
// the partition by state, how many acked each ack state (received,
// displayed, played, failed), how many were reached, since when the rest
// have waited, and how many devices outside the scope acked anyway.
// Deliveries lists the devices with their state, ordered by id, filtered by
// state and paginated by an opaque cursor.
//
// # Cost
//
// Acks arrive thousands per second, so Observe only looks the record id up
// in a map and updates the device's entry under the alert's own lock;
// nothing is written until Flush, which writes every changed entry in one
// bbolt transaction (one fsync). BenchmarkObserveAcks measures Observe and
// Flush together. Status and Deliveries cost the size of the scope.
//
// What changed since the last Flush lives only in memory, but a crash does
// not lose it: the records are in the mesh store, which is crash-safe, and
// at start the server calls the desk's Retrack (which records belong to
// which alert) and Replay, which observes again the acks, health reports
// and revocations the mesh stored since the last Flush (less a margin).
// Observing twice changes nothing.
//
// # Storage
//
// The fleet takes the server's open *bbolt.DB and uses only buckets whose
// names start with "fleet."; values are JSON. New loads everything into
// memory.
//
//	fleet.meta     "schema" → "1"
//	fleet.devices  device id → Device
//	fleet.alerts   alert id → scope, first publication, record ids
//	fleet.acks     alert id ‖ 0x00 ‖ device id → ack states, times, reason
//
// Prune drops alerts published before a horizon, in memory and on disk.
package fleet

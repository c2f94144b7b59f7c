// Package mqttlink is the MQTT side of the sync layer (DESIGN §5): the
// topic tree and its ACL, the receipts protocol, and Link, a mesh.Link
// over an MQTT 3.1.1 broker with eclipse/paho.mqtt.golang that poles and
// gateways use to reach their gateway or the server (and a server uses
// when its broker is an external Mosquitto). The embedded broker that
// servers and gateways run is mesh/mqttbroker; it imports this package
// for the topic tree, the ACL, the TLS checks and the receipts tracker.
//
// Every payload is one signed record (mesh/record), except on receipts
// topics. MQTT 3.1.1 has no message expiry, user properties or reason
// codes; a record carries its own id, expiry and signatures, and every
// node verifies what it receives, so the broker is a pipe, not a judge.
//
// # Topic tree
//
// Ids and zones are node ids (record.ValidateNodeID): letters, digits,
// '.', '_' and '-', so they never contain a level separator or a
// wildcard.
//
//	cityarray/alerts/broadcast               records for the whole city
//	cityarray/alerts/zone/{zone}             records for one zone
//	cityarray/alerts/device/{id}             records for one device
//	cityarray/devices/{id}/status            acks and health, up
//	cityarray/devices/{id}/telemetry         aggregate counts, up
//	cityarray/devices/{id}/detection         anomalies, up
//	cityarray/devices/{id}/receipts          receipts for what {id} published (added here)
//	cityarray/commands/{id}/display|audio|config   commands for one device
//	cityarray/system/health                  gateway health (topic reserved; records use devices/{id}/status)
//	cityarray/system/updates                 update announcements
//
// TopicFor maps a record to its topic:
//
//	alert, update, cancel, activation,     by scope: city → alerts/broadcast,
//	protocol, revocation                   zone:z → alerts/zone/z, device:d → alerts/device/d
//	command, scope device:d                commands/d/display (test-pattern, brightness),
//	                                       commands/d/audio (volume), commands/d/config (config, reboot)
//	command, scope zone or city            the alert topic of its scope (where every device it is for listens)
//	update-announcement                    system/updates, whatever its scope
//	ack, health                            devices/{d}/status    (scope device:d, which the tier
//	telemetry                              devices/{d}/telemetry  table makes the signer)
//	anomaly                                devices/{d}/detection
//
// A pole relaying a neighbour's uplink record publishes it on its own
// device topics (the only ones it may publish); a gateway bridging its
// poles' records publishes them on theirs.
//
// # ACL
//
// Identity comes from the client certificate (the cityarray:// URI SAN;
// see mesh/trust), never from a user name or password, and the MQTT
// client id must be the certificate's id. Allowed decides; Grants lists
// the filters a role holds ('+' stands for any valid node id). For pole-1
// in zone z1 and gateway gw-1 in z1:
//
//	role      publish                                   subscribe
//	device    devices/pole-1/status|telemetry|detection alerts/broadcast, alerts/zone/z1,
//	                                                    alerts/device/pole-1, commands/pole-1/#,
//	                                                    system/updates, devices/pole-1/receipts
//	gateway   devices/+/status|telemetry|detection,     alerts/broadcast, alerts/zone/z1,
//	          alerts/zone/z1, system/health             alerts/device/+, commands/+/#,
//	                                                    system/updates, devices/gw-1/receipts
//	server    anything                                  anything
//	operator  may not connect (nor may the CAs)
//
// A subscription filter is allowed only if every topic it can match is
// granted: a device asking for "#", "cityarray/alerts/zone/+" or
// "cityarray/commands/+/#" is refused. Malformed filters are refused for
// everyone.
//
// # TLS
//
// Certificates are Ed25519 and carry no DNS names, so no host name can be
// checked. Both sides verify the peer with CheckPeer instead, from
// tls.Config.VerifyConnection: the leaf must chain to a city root of the
// node's trust.Verifier through a city CA, at the later of the node's
// clock and the verifier's time floor (a pole without an RTC checks
// certificates at a time the network has shown it); no certificate
// presented may be revoked; and the role must fit (a broker must be a
// server or a gateway; a client a device, gateway or server). ServerTLS
// and ClientTLS build the two configurations. Mosquitto 2.0.11 with
// Debian's OpenSSL 3 accepts these certificates under TLS 1.2 and 1.3
// (see TestMosquitto, whose configuration is the one to deploy: cafile
// the root and city CA, certfile the broker's leaf and city CA,
// require_certificate and use_identity_as_username true, and
// set_tcp_nodelay true, without which Nagle's algorithm and delayed ACKs
// hold each record about 40 ms). mosquitto_sub needs --insecure, which
// skips only its host name check.
//
// # Receipts
//
// A PUBACK proves only that the broker took a packet, and paho completes
// publish tokens after a reconnect without proof of delivery. So the
// receiver confirms by record id. When a record published by client P
// reaches the node that owns the broker (or a server's link on an
// external broker), the receiver notes (P, id); once the node holds the
// record durably, it publishes the id on ReceiptsTopic(P) at QoS 1. The
// payload is 1 to MaxReceiptIDs 32-byte ids, concatenated, nothing else
// (AppendReceipts, ParseReceipts); the ids for one publisher are batched
// into as few messages as possible.
//
// "Durably" is the choice made here, not "Deliver returned true": a
// receipt removes the sender's only other copy, so it must not be sent
// for a record still in the node's inbox, which a crash would lose. The
// tracker (Receipts) confirms an id when the node offers the record to
// its links, which mesh.Node does only after the batch holding it is
// stored, or at once when the node already held it (Node.Known is true
// only after that store). A record the node rejects is never confirmed;
// its sender resends it until it expires (see the outbox). A record lost
// on the way (the node's inbox was full, the connection dropped) is not
// confirmed either, and is resent.
//
// The embedded broker knows the publisher of each packet (the client id,
// which is the certificate's id). A server on an external broker does
// not: MQTT 3.1.1 does not say who published. Its link addresses the
// receipt to the device of a device topic, otherwise to the record's
// origin. So through an external broker, records a gateway bridges for
// its poles are confirmed to the poles, not to the gateway, and the
// gateway resends them until they expire; harmless, since the receiver
// deduplicates by id, but it costs bandwidth. Use the embedded broker for
// gateways' uplinks.
//
// # Outbox
//
// On a device or gateway link, Offer puts these records in the store's
// durable outbox (store.Enqueue): uplink kinds (acks as store.OutboxAck,
// never dropped; health, telemetry and anomalies as
// store.OutboxTelemetry, the oldest dropped when the outbox is full), and
// every record the node published itself (From.Link == ""), as
// OutboxAck: a gateway's advisory signed while it was cut off from the
// server reaches the server when the link returns, even across a
// restart. Other records the link sends (by default none on a device; a
// server's downlink records) go through a bounded in-memory queue that
// waits for a connection and is lost on restart: they are someone else's
// records, which their origin and the node's other links also carry.
//
// While connected, the link publishes the oldest Window entries at QoS 1
// and removes an entry only when its id comes back on the node's receipts
// topic, never on a PUBACK (from the window at once; from the outbox on
// disk with the store's next write, or RemoveAfter later: a receipt costs
// no disk flush of its own, and a power cut in between sends the entry
// again, which the receiver drops as a duplicate). An entry whose receipt
// does not arrive within
// ReceiptTimeout is sent again, and every entry in the window is sent
// again after each reconnect; the receiver deduplicates by id, so resends
// are idempotent. An entry whose record expired more than ExpiredGrace
// ago (by the node's clock or the verifier's floor, whichever is later)
// is dropped unsent, since every receiver would refuse it. Offer hands
// records to the link's goroutine, which writes the outbox; a crash in
// the few milliseconds between the node storing a record and that write
// loses the record's outbox entry (not the record, which the node's
// store and its other links still hold).
//
// The outbox belongs to the node, not to a link: a node with two device
// or gateway client links (a pole's gateway and cellular uplinks) queues
// each record once per link and both links drain the outbox, so records
// go up both ways and are deduplicated by id upstream. Give the standby
// link an Uplink that refuses what the connectivity ladder sends the
// other way, and a Drain that holds its sends while the better link is
// up. A program may also put its own records in the outbox itself
// (store.Enqueue) in the same breath as it creates them, which closes the
// crash window above (the pole's acks do: edge.Acker), and keep them out
// of Offer with Uplink; every link drains them like the others.
//
// What a link sends by default: a device sends uplink kinds it published
// itself; a gateway sends uplink kinds from any other link (its poles'
// records, through its broker) and everything it published itself; a
// server on an external broker sends every downlink record. Config.Uplink
// replaces this (the edge's connectivity ladder may route neighbours'
// acks through a pole that has the uplink). A record is never sent back
// on the link it came from, and a record whose topic the node's role may
// not publish is counted (Stats.Refused) and dropped: the broker would
// disconnect a client for it.
//
// # Reconnect and failover
//
// paho's own reconnect is off: its backoff cannot be jittered, seeded or
// clocked. The link creates one paho client per connection (MQTT 3.1.1,
// CleanSession false so the broker queues downlink records while the
// pole is away, ClientID = node id, OrderMatters false, handlers that
// only hand off) and drives connects itself. A round tries every broker
// URL once, in order, starting after the broker it last lost, so an edge
// configured with two gateways moves to the other at once. A round that
// connects nowhere, or a connection that drops within StableAfter, is a
// failure; the next round waits Backoff.Wait(failures): exponential from
// MinBackoff to MaxBackoff with full jitter from a seeded generator, on
// the injected Clock. Connected and LastContact give the edge's
// connectivity ladder the link's state. Close cuts a dial or handshake in
// progress short, disconnects, and waits for the link's goroutines.
package mqttlink

// Package mqttbroker is the embedded MQTT broker the control server and
// each zone gateway run (DESIGN §5, §6): mochi-mqtt/server/v2 on a TLS
// listener that requires city client certificates, with the city's
// authentication and ACL, and Link, the in-process mesh.Link that joins
// the broker to the node that owns it. The topic tree, the ACL, the TLS
// checks and the receipts protocol are defined in mesh/mqttlink; this
// package applies them.
//
// # Connections
//
// The listener does the TLS handshake itself (mqttlink.ServerTLS: the
// client must present a certificate that chains to the city root through
// the city CA, unrevoked, of a device, gateway or server) and then gives
// the connection to mochi; a peer has HandshakeTimeout for the handshake
// and its CONNECT packet. The hook admits a client only if its MQTT client
// id is its certificate's id; user names and passwords are ignored.
// Operators and the CAs may not connect. Every refusal is logged with its
// reason and counted (Stats.TLSFailures, Stats.AuthFailures).
//
// # ACL
//
// The hook applies mqttlink.Allowed to every publish, every subscription
// filter and every delivery (see the table in mqttlink's doc). A device
// that publishes outside its own device topics is disconnected (MQTT
// 3.1.1 cannot refuse a single publish); a refused subscription gets the
// failure code 0x80 in its SUBACK.
//
// # Records in and out
//
// A record a client publishes is handed to the node (Node.Deliver, with
// the client id as the peer), and mochi is told not to pass the copy on:
// it PUBACKs it, but no subscriber sees it yet. The node verifies it;
// only if the node accepts it does Link.Offer publish it, on the topic
// mqttlink.TopicFor gives, which may differ from the topic it came on
// (a gateway's bridged record, a pole relaying a neighbour's ack). So a
// forgery never goes further than the broker, as everywhere in the mesh.
//
// Offer publishes every record the node accepts (from any link, or its
// own) through mochi's inline client, at QoS 1, never retained: the
// node's store, not the broker, is the cache. A record that came from a
// client is injected with that client as its origin and every
// subscription is marked no-local, so the record does not go back to the
// client it came from.
//
// After the node has stored a record from a client, the link publishes
// its id on that client's receipts topic (mqttlink.Receipts; see
// "Receipts" in mqttlink's doc). Receipts published by a server-role
// client pass through the broker untouched.
//
// # Sessions and expiry
//
// Clients connect with CleanSession false; the broker keeps a client's
// session (subscriptions and QoS 1 messages not yet delivered) for
// SessionExpiry after it goes away, in memory. mochi's default maximum
// message expiry is 24 h, below the 48 h an edge caches alerts for, so it
// is raised to MessageExpiry (default 72 h, at least 48 h). Sessions do
// not survive a restart of the broker: a pole that reconnects to a
// restarted broker gets only what is published from then on over MQTT,
// unless the owner serves it what it missed (Config.CatchUp: a zone
// gateway serves its zone cache to every device that subscribes to its
// own device topic); gossip and anti-entropy carry the rest.
package mqttbroker

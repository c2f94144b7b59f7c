// Package gateway is the zone gateway (DESIGN §1, §5): a mesh node with
// the zone's MQTT broker (embedded mochi-mqtt on mutual TLS, the same ACL
// as the server's), bridged to the control server through mqttlink with
// its durable outbox, and a member of the zone's gossip mesh. Its store is
// the zone cache: every record it has seen for its zone, the city and its
// poles.
//
// What flows: records the server publishes reach the bridge, the node
// verifies and stores them, and the broker's link publishes them to the
// zone's poles; the poles' acks and health reports come in through the
// broker, are verified and stored, and go up the bridge (the outbox holds
// them while the server is away, and receipts from the server empty it).
// A cellular bridge, if configured, drains the outbox only while the
// primary bridge is down. The gateway reports its own health (a health
// record signed with its certificate, with the chain) every HealthEvery.
//
// Configuration is a YAML file decoded strictly (Config, LoadConfig,
// Validate); docs/gateway.yaml is the documented example.
package gateway

// Package edge is the pole runtime (DESIGN §5, §8): what `cityarray edge
// --config FILE` runs for years on a street pole with nobody watching.
//
// A pole is a mesh node (a Replica with a store) with every link it has:
// MQTT to its zone's gateways (and a cellular backup to the server),
// gossip with the neighbouring poles. Of the active records in its scope
// (the city, its zone, itself) it shows the highest tier, then the newest
// (show.Candidates, show.Choose); a warning leaves the display five minutes after it
// was issued unless a renewal replaces it (show.WarningTimeout); cancels and
// updates take effect through the store's superseded set. The alert's
// languages rotate in the order the zone's list gives (Languages). With
// nothing active, the pole shows informational content it makes itself:
// the time, the date, a line from the city.
//
// Acks: the pole signs one ack record per alert and state (received,
// displayed, played, failed with a reason) with its device key and hands
// it to its node, which stores it (crash-safe) and queues it in the
// outbox for the uplink (Acker). Which acks were sent is read back from
// the store at start, so a restart neither loses nor repeats one.
//
// Configuration is a YAML file decoded strictly (Config, LoadConfig,
// Validate); docs/edge.yaml is the documented example.
package edge

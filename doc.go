// Package cityarray is the root of the CITYARRAY module, a public-alert
// network of edge poles with LED matrices and speakers, zone gateways and a
// control server that share one signed-record gossip mesh.
//
// The root package holds no code. The binary is cmd/cityarray; the sync layer
// is mesh/; the roles are edge/, gateway/ and server/. README.md describes
// the layout.
package cityarray

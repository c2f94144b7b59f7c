// Package city composes a whole city on one machine: a PKI, and mesh
// nodes (stores, replicas, gossip links) on a simulated network
// (mesh/netsim). It is the one place that wires roles and the simulated
// network together (DESIGN §2); `cityarray bench`, `sim` and `up` use it.
package city

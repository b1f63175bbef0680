// Package pgstore is billsync.Store on PostgreSQL: the store for several
// billsync replicas sharing one database. It is Open, the PostgreSQL
// dialect and the PostgreSQL migrations; the store itself is
// internal/sqlstore's, shared with sqlitestore, so both pass the same
// conformance suite (storetest) by construction: event ids outlive their
// queue rows for dedupe, only the head of a partition is claimable,
// resurrected changes go to the tail under a new id, and a stream event is
// stored in one transaction with its replay checkpoint.
//
// PostgreSQL is reached through pgx's database/sql driver (pgx/v5/stdlib).
// What SQLite gets from its single writer, this package gets from locks:
// every write that changes which row heads a partition holds a
// transaction-scoped advisory lock on that partition; Claim takes heads
// with FOR UPDATE SKIP LOCKED, so replicas claiming together never receive
// the same change; and migrations run under a session advisory lock, so
// replicas starting together migrate once.
//
// The store lives in the schema the connection's search_path selects, so
// several deployments (or parallel tests) can share a database.
//
// It must not hold business rules, import other billsync packages besides
// the root and internal/sqlstore, or expose its pool to callers.
package pgstore

// Package m3ter is a stateful stand-in for m3ter's Config API: the part of
// it billsync uses, at m3ter's paths, with its auth, paging, error body and
// event records, for tests, `billsync sandbox --billing m3ter` and
// `billsync emulate m3ter`. Its tests validate every exchange against
// m3ter's published OpenAPI description (../shared/specs/m3ter-openapi.json).
//
// What it serves: POST /oauth/token (client credentials, HTTP Basic with
// the access key id and secret, JSON or form-encoded body; tokens last
// 18,000 s) and, under /organizations/{orgId} with Authorization: Bearer,
// accounts, balances, balance transactions (create and list only; a
// balance's amount is the exact decimal sum of its transactions), events,
// notification configurations, webhook destinations, integration configs
// and users/me. Lists are newest first, paged with pageSize and nextToken,
// and a nextToken stays valid while records are created. Every entity has
// an integer version: create answers 1, a PUT must carry the current one
// and replaces the whole object (customFields left out are wiped).
// createdBy and lastModifiedBy hold the service user the access key
// belongs to.
//
// Events: every write of an account, a balance or a transaction records an
// event (configuration.account.created|updated|deleted,
// billing.balance.created|updated|deleted; a transaction raises
// billing.balance.updated for its balance). For each event whose eventName
// has an active notification configuration linked by an enabled
// integration config (entityType Notification) to an active webhook
// destination, the event record is POSTed to the destination's URL,
// retried with backoff on a non-2xx. PauseDelivery and Redeliver let tests
// decide an order or send a duplicate.
//
// PROVISIONAL decisions, where no public source confirms m3ter's
// behaviour (tests that depend on them say Provisional in their names):
//   - A stale or missing version on PUT is HTTP 409 {"message":"... version ..."}.
//   - Error bodies are {"message": "..."}; an unknown route is 404.
//   - The webhook body is the event record {id, eventName, eventTime,
//     dtActioned, m3terEvent:{eventData:{newDto, oldDto}}}: newDto is the
//     entity after a create or update, oldDto the entity before an update
//     or delete (a delete carries only oldDto, as the spec says of event
//     fields; the key names newDto/oldDto follow m3ter's event example,
//     oldDto is unconfirmed). Deliveries are not signed: the
//     M3TER_SIGNED_REQUEST scheme is unpublished.
//   - A transaction bumps its balance's version (its amount changed).
//   - dtActioned, which the spec requires, is the event time.
//   - A notification whose alwaysFireEvent is false fires only when its
//     calculation is empty or "true"; calculations are not evaluated.
//   - GET integrationconfigs/{id} answers, as the spec says, an integration
//     run: the config with the status of its latest delivery.
//   - A balance's amount in a create, or changed in an update, is refused
//     (400), as it is derived from the transactions.
//   - Notification configurations and webhook destinations are active
//     unless the request says otherwise; integration configs are enabled.
//   - A token for another organization is answered 403.
//   - A failing delivery is retried for a day (m3ter's schedule is
//     unpublished); deliveries run in parallel and are not ordered.
//     While a destination is inactive its deliveries are held until
//     redelivered.
//
// With Options.DataDir set, every change is journaled (emulate/journal)
// before it is answered, pending deliveries and issued tokens included,
// and New reloads it.
//
// It must not import the engine or any billsync package but the root and
// emulate/journal; it is a stand-in for a remote system.
package m3ter

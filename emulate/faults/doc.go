// Package faults injects failures into an emulator from outside: it is HTTP
// middleware that wraps the Salesforce or billing emulator's handler and,
// per configured rule and probability, answers with an error status and the
// remote system's own error body, adds latency, drops the connection without
// answering, runs a named hook (expire every token, close every streaming
// connection) or lets the request through and fails the response after the
// write happened. Rules are set at start (Parse reads a compact CLI spec) and
// replaced at run time through the admin endpoint at AdminPath, and every
// injected fault is counted per rule so that a chaos test can compare what
// it saw with what was injected.
//
// It must not import or know the emulators: error bodies come from a format
// function (SalesforceFormat, BillingFormat) and side effects from hooks the
// caller supplies. It is a test tool: the admin endpoint has no
// authentication and must never be mounted in front of a real service.
package faults

// Package soql parses the subset of Salesforce's SOQL that billsync and
// common clients send, and evaluates a parsed query's WHERE and ORDER BY
// against records the caller supplies. Its users stand in for Salesforce:
// the emulator, the in-memory org of package mock, and the tests of the
// SOQL builder (salesforce/soql).
//
// Supported: SELECT of fields, relationship paths (Rel__r.Field) or a lone
// COUNT(); FROM one object; WHERE with = != <> < > <= >= LIKE IN NOT IN,
// AND/OR/NOT and parentheses; ORDER BY with ASC/DESC and NULLS FIRST/LAST;
// LIMIT; OFFSET. Literals: quoted strings with SOQL's backslash escapes,
// signed decimals, null, true/false, dates, datetimes and relative date
// literals (TODAY, LAST_N_DAYS:n, THIS_FISCAL_QUARTER…; fiscal periods use
// the default calendar fiscal year, and the org time zone is UTC).
//
// Syntax errors are *Error with code MALFORMED_QUERY and Salesforce's own
// message layout ("\n<excerpt>\n<caret>\nERROR at Row:r:Column:c\nunexpected
// token: 'x'"). Everything else real SOQL offers — GROUP BY, aggregates
// other than COUNT(), subqueries, TYPEOF, FIELDS(), bind variables, WITH,
// FOR UPDATE, INCLUDES/EXCLUDES, aliases — is refused with MALFORMED_QUERY
// rather than silently ignored.
//
// Semantics worth knowing (they follow Salesforce, not SQL):
//   - text comparisons (=, !=, IN, LIKE, <, >) and text ordering are
//     case-insensitive, as they are for standard and most custom fields in
//     a real org;
//   - != and NOT IN match records whose field is null, = null matches null,
//     != null matches non-null, and every other comparison with a null is
//     false; a checkbox is never null, so "= null" matches false and
//     "!= null" matches true, as the SOQL reference says;
//   - numbers compare as exact decimals, never through float64;
//   - AND and OR cannot be mixed at one level without parentheses.
//
// The package must not know any org schema: field names and types are the
// emulator's business (it validates Query.Paths before evaluating and
// raises INVALID_FIELD / INVALID_TYPE itself). It must not panic on any
// input; FuzzParse guards that.
package soql

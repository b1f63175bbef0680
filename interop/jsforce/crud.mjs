// Drives the Salesforce emulator with jsforce 3, unchanged: OAuth password
// login through the connected app (jsforce logs in over SOAP without
// oauth2 settings, which the emulator does not speak), create, upsert by
// external id, query with nextRecordsUrl paging (autoFetch), update,
// collections, retrieve, describe, delete, and the quote and price book
// rules. Exits 1 on the first mismatch.
//
//   SF_URL=http://127.0.0.1:PORT SF_USER=... SF_PASS=... node crud.mjs
import assert from 'node:assert/strict';
import jsforce from 'jsforce';

const env = process.env;
const loginUrl = env.SF_URL;
if (!loginUrl) {
  console.error('SF_URL is required');
  process.exit(2);
}
const stamp = Date.now().toString(36);

async function main() {
  const conn = new jsforce.Connection({
    oauth2: { clientId: env.SF_CLIENT_ID || 'billsync', clientSecret: env.SF_CLIENT_SECRET || 'billsync', loginUrl },
    version: env.SF_VERSION || '62.0',
  });
  const info = await conn.login(env.SF_USER, env.SF_PASS);
  assert.match(info.id, /^005/, 'login returns the user id');
  assert.match(info.organizationId, /^00D/, 'login returns the org id');
  assert.ok(conn.instanceUrl.startsWith('http'), 'instance url');

  const accounts = conn.sobject('BillingAccount__c');
  const desc = await accounts.describe();
  const ext = desc.fields.find((f) => f.name === 'BillingId__c');
  assert.ok(ext && ext.externalId && ext.unique, 'BillingId__c is a unique external id');

  // create
  const created = await accounts.create({ Name: `JS ${stamp}`, BillingId__c: `js-${stamp}` });
  assert.equal(created.success, true);
  assert.match(created.id, /^[a-zA-Z0-9]{18}$/);

  // upsert: update the existing record, then create a new one
  const up1 = await accounts.upsert({ BillingId__c: `js-${stamp}`, Code__c: 'C1' }, 'BillingId__c');
  assert.equal(up1.success, true);
  assert.equal(up1.id, created.id);
  assert.equal(up1.created, false);
  const up2 = await accounts.upsert({ BillingId__c: `js2-${stamp}`, Name: `JS2 ${stamp}` }, 'BillingId__c');
  assert.equal(up2.created, true);

  // a child naming its parent by external id
  const bal = await conn.sobject('BillingBalance__c').create({
    Name: 'Balance', BillingId__c: `jsb-${stamp}`, Amount__c: 12.345, BillingAccount__r: { BillingId__c: `js-${stamp}` },
  });
  assert.equal(bal.success, true);

  // retrieve
  const rec = await accounts.retrieve(created.id);
  assert.equal(rec.Code__c, 'C1');
  assert.equal(rec.Id, created.id);
  assert.match(rec.CreatedDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/);

  // update, single and as a collection
  const upd = await accounts.update({ Id: created.id, Name: `JS edited ${stamp}` });
  assert.equal(upd.success, true);
  const multi = await accounts.update([
    { Id: created.id, Code__c: 'C2' },
    { Id: up2.id, Code__c: 'C2' },
  ], { allOrNone: true });
  assert.equal(multi.length, 2);
  assert.ok(multi.every((r) => r.success), 'collection update: ' + JSON.stringify(multi));

  // bulk create through sObject Collections, then query with paging
  const rows = 2100;
  for (let i = 0; i < rows; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(i + 200, rows); j++) batch.push({ Name: `Page ${j}`, BillingId__c: `jsp-${stamp}-${j}` });
    const res = await accounts.create(batch, { allOrNone: true });
    assert.ok(res.every((r) => r.success), 'collection create');
  }
  const soql = `SELECT Id, Name, BillingId__c FROM BillingAccount__c WHERE BillingId__c LIKE 'jsp-${stamp}-%'`;
  const firstPage = await conn.query(soql, { autoFetch: false });
  assert.equal(firstPage.totalSize, rows);
  assert.equal(firstPage.done, false);
  assert.ok(firstPage.nextRecordsUrl, 'a first page carries nextRecordsUrl');
  const records = [];
  await new Promise((resolve, reject) => {
    conn.query(soql).on('record', (r) => records.push(r)).on('end', resolve).on('error', reject)
      .run({ autoFetch: true, maxFetch: 10000 });
  });
  assert.equal(records.length, rows, 'autoFetch follows nextRecordsUrl to the end');

  const count = await conn.query(`SELECT COUNT() FROM BillingAccount__c WHERE BillingId__c IN ('js-${stamp}', 'js2-${stamp}')`);
  assert.equal(count.totalSize, 2);

  const rel = await conn.query(`SELECT Id, BillingAccount__r.BillingId__c FROM BillingBalance__c WHERE BillingId__c = 'jsb-${stamp}'`);
  assert.equal(rel.records[0].BillingAccount__r.BillingId__c, `js-${stamp}`);
  assert.equal((await conn.sobject('BillingBalance__c').retrieve(bal.id)).Amount__c, 12.35);

  // errors surface as jsforce errors with Salesforce's codes
  await assert.rejects(accounts.create({ Name: 'dup', BillingId__c: `js-${stamp}` }), (e) => e.errorCode === 'DUPLICATE_VALUE');
  await assert.rejects(conn.query('SELECT Nope FROM BillingAccount__c'), (e) => e.errorCode === 'INVALID_FIELD');

  // delete, single and as a collection
  const del = await accounts.destroy(up2.id);
  assert.equal(del.success, true);
  const delMany = await accounts.destroy([created.id], { allOrNone: true });
  assert.ok(delMany.every((r) => r.success));
  await assert.rejects(accounts.retrieve(created.id), (e) => e.errorCode === 'ENTITY_IS_DELETED');
  const gone = await conn.query(`SELECT COUNT() FROM BillingBalance__c WHERE BillingId__c = 'jsb-${stamp}'`);
  assert.equal(gone.totalSize, 0, 'master-detail child deleted with its parent');

  // quotes and products: the platform's pricing rules reach jsforce as
  // ordinary save errors
  const std = await conn.query('SELECT Id FROM Pricebook2 WHERE IsStandard = true');
  assert.equal(std.totalSize, 1, 'one standard price book');
  const stdId = std.records[0].Id;
  const product = await conn.sobject('Product2').create({ Name: `Widget ${stamp}`, ProductCode: `W-${stamp}`, IsActive: true });
  const book = await conn.sobject('Pricebook2').create({ Name: `Book ${stamp}`, IsActive: true });
  await assert.rejects(
    conn.sobject('PricebookEntry').create({ Pricebook2Id: book.id, Product2Id: product.id, UnitPrice: 9, IsActive: true }),
    (e) => e.errorCode === 'STANDARD_PRICE_NOT_DEFINED',
  );
  const stdEntry = await conn.sobject('PricebookEntry').create({ Pricebook2Id: stdId, Product2Id: product.id, UnitPrice: 10, IsActive: true });
  const opp = await conn.sobject('Opportunity').create({ Name: `Opp ${stamp}`, StageName: 'Prospecting', CloseDate: '2026-06-30' });
  const oli = await conn.sobject('OpportunityLineItem').create({ OpportunityId: opp.id, PricebookEntryId: stdEntry.id, Quantity: 3, UnitPrice: 10.1 });
  assert.equal(oli.success, true);
  const oppRec = await conn.sobject('Opportunity').retrieve(opp.id);
  assert.equal(oppRec.Pricebook2Id, stdId, 'the first product sets the price book');
  assert.equal(oppRec.Amount, 30.3, 'Amount sums the products');
  const quote = await conn.sobject('Quote').create({ Name: `Quote ${stamp}`, OpportunityId: opp.id });
  await assert.rejects(
    conn.sobject('QuoteLineItem').create({ QuoteId: quote.id, PricebookEntryId: stdEntry.id }),
    (e) => e.errorCode === 'REQUIRED_FIELD_MISSING',
  );
  await conn.sobject('Opportunity').destroy(opp.id);
  await assert.rejects(conn.sobject('Quote').retrieve(quote.id), (e) => e.errorCode === 'ENTITY_IS_DELETED');

  console.log('jsforce interop ok');
}

main().catch((e) => {
  console.error('jsforce interop FAILED:', e && (e.stack || e.message || e));
  if (e && e.errorCode) console.error('errorCode', e.errorCode);
  process.exit(1);
});

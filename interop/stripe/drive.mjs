// Drives the billsync Stripe emulator with the official stripe client:
// STRIPE_URL (http://127.0.0.1:port), STRIPE_KEY, HOOK_URL (a receiver the
// Go test runs, which hands back what it got at HOOK_URL + "/last").
import Stripe from 'stripe';
import assert from 'node:assert/strict';

const u = new URL(process.env.STRIPE_URL);
const stripe = new Stripe(process.env.STRIPE_KEY, {
  host: u.hostname, port: Number(u.port), protocol: 'http', maxNetworkRetries: 0,
});

const we = await stripe.webhookEndpoints.create({ url: process.env.HOOK_URL, enabled_events: ['customer.created'] });
assert.ok(we.secret.startsWith('whsec_'));

const cus = await stripe.customers.create({ name: 'Acme', email: 'a@acme.test', metadata: { billsync_code: 'ACME' } });
const upd = await stripe.customers.update(cus.id, { name: 'Acme SA' });
assert.equal(upd.name, 'Acme SA');
for (let i = 0; i < 11; i++) await stripe.customers.create({ name: `c${i}` });
let n = 0;
await stripe.customers.list({ limit: 5 }).autoPagingEach(() => { n++; });
assert.equal(n, 12);

const txn = await stripe.customers.createBalanceTransaction(cus.id, { amount: -1500, currency: 'usd', description: 'credit' });
assert.equal(txn.ending_balance, -1500);
await stripe.customers.updateBalanceTransaction(cus.id, txn.id, { metadata: { k: 'v' } });
await assert.rejects(stripe.customers.updateBalanceTransaction(cus.id, txn.id, { amount: 5 }), /unknown parameter/);
const txns = await stripe.customers.listBalanceTransactions(cus.id);
assert.equal(txns.data.length, 1);
assert.equal((await stripe.customers.retrieve(cus.id)).balance, -1500);

const prod = await stripe.products.create({ name: 'Seat' });
const price = await stripe.prices.create({ currency: 'usd', product: prod.id, unit_amount: 1000, recurring: { interval: 'month' } });
let q = await stripe.quotes.create({ customer: cus.id, line_items: [{ price: price.id, quantity: 2 }] });
assert.equal(q.amount_total, 2000);
q = await stripe.quotes.finalizeQuote(q.id);
assert.equal(q.status, 'open');
q = await stripe.quotes.accept(q.id);
assert.equal(q.status, 'accepted');
const items = await stripe.quotes.listLineItems(q.id, { expand: ['data.price.product'] });
assert.equal(items.data[0].price.product.name, 'Seat');

// The first customer.created delivery, as the Go receiver kept it.
let got;
for (let i = 0; i < 150 && !got; i++) {
  const r = await fetch(process.env.HOOK_URL + '/last');
  if (r.status === 200) got = await r.json(); else await new Promise((ok) => setTimeout(ok, 100));
}
assert.ok(got, 'no webhook arrived');
const ev = stripe.webhooks.constructEvent(got.body, got.signature, we.secret);
assert.equal(ev.type, 'customer.created');
console.log('stripe interop: ok');

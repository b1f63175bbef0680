// Drives billsync's Salesforce Pub/Sub API emulator with the
// salesforce-pubsub-api-client npm package, unchanged, over TLS with
// user-supplied auth. It prints one JSON line per step on stdout (the
// client's own logs go to stderr) and the Go test (pubsub_test.go) acts
// on them:
//
//   published  the client published an event (GetTopic, GetSchema, Publish)
//   subscribed a subscription from LATEST is asked for; the test then edits a record
//   event      the live event, decoded with the schema fetched by its id
//   replayed   a new client subscribed after the published event's replay id
//   batch      publishBatch's response (PublishStream) for two events
//   earliest   a client authenticated by OAuth client credentials (against
//              LOGIN_URL, the REST emulator) subscribed from EARLIEST
//   keepalive  with credit left and nothing to deliver, the empty response
//              carrying the latest replay id
//   cdc        the Change Data Capture event of the sales user's insert, read
//              from EARLIEST on CDC_TOPIC, its header and field bitmaps decoded
//              by the client
//
// Env: ENDPOINT (host:port), INSTANCE_URL, TOKEN, ORG_ID, TOPIC, CDC_TOPIC, LOGIN_URL,
// CLIENT_ID, CLIENT_SECRET,
// REJECT_UNAUTHORIZED ("false" to skip certificate checks), TIMEOUT_MS.
import PubSubApiClient from 'salesforce-pubsub-api-client';

const env = (k) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is required`);
    return v;
};
const topic = env('TOPIC');
const timeout = Number(process.env.TIMEOUT_MS ?? 15000);

// Avro longs decode as BigInt, which JSON.stringify refuses.
const print = (o) =>
    console.log(JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));

const logger = {
    debug: () => {},
    info: (...a) => console.error('info', ...a),
    warn: (...a) => console.error('warn', ...a),
    error: (...a) => console.error('error', ...a)
};

// newClient configures user-supplied auth; without orgId the client
// takes the org id from the access token's prefix (15 characters).
function newClient(orgId) {
    return new PubSubApiClient(
        {
            authType: 'user-supplied',
            accessToken: env('TOKEN'),
            instanceUrl: env('INSTANCE_URL'),
            organizationId: orgId,
            pubSubEndpoint: env('ENDPOINT'),
            rejectUnauthorizedSsl: process.env.REJECT_UNAUTHORIZED !== 'false'
        },
        logger
    );
}

// nextEvent subscribes with subscribe(callback) and resolves with the
// first event, failing on an error, an early end or the timeout.
function nextEvent(subscribe, what) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: no event within ${timeout} ms`)), timeout);
        subscribe((info, type, data) => {
            switch (type) {
                case 'event':
                    clearTimeout(timer);
                    resolve({ info, event: data });
                    break;
                case 'error':
                    clearTimeout(timer);
                    reject(new Error(`${what}: ${data?.message ?? JSON.stringify(data)}`, { cause: data }));
                    break;
                case 'end':
                    clearTimeout(timer);
                    reject(new Error(`${what}: the stream ended before an event`));
                    break;
            }
        });
    });
}

// A run that hangs fails instead, with what it was waiting for in stderr.
setTimeout(() => {
    console.error(`the run did not finish within ${3 * timeout} ms`);
    process.exit(2);
}, 3 * timeout).unref();

const client = newClient(env('ORG_ID'));
await client.connect();

// publish() reads the topic (GetTopic), its schema (GetSchema), encodes
// the payload with it and publishes it.
const published = await client.publish(topic, {
    CreatedDate: Date.now(),
    CreatedById: '005000000000000AAA',
    ObjectType__c: { string: 'BillingBalance__c' },
    RecordId__c: { string: 'a01000000000001AAA' },
    ChangeType__c: { string: 'DELETE' }
});
print({ step: 'published', replayId: published.replayId, correlationKey: published.correlationKey });

const live = nextEvent((cb) => client.subscribe(topic, cb, 1), 'live subscription');
print({ step: 'subscribed' });
const { event } = await live;
print({ step: 'event', event });

// A stored replay id: a fresh client resumes just after the published
// event, so the live one comes first. It names no org id.
const second = newClient(undefined);
await second.connect();
const { event: replayed } = await nextEvent(
    (cb) => second.subscribeFromReplayId(topic, cb, 1, published.replayId),
    'replay subscription'
);
print({ step: 'replayed', event: replayed });

// publishBatch publishes over the PublishStream RPC.
const batch = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`publishBatch: no response within ${timeout} ms`)), timeout);
    const event = (record) => ({
        payload: {
            CreatedDate: Date.now(),
            CreatedById: '005000000000000AAA',
            ObjectType__c: { string: 'BillingAccount__c' },
            RecordId__c: { string: record },
            ChangeType__c: { string: 'UPDATE' }
        }
    });
    second
        .publishBatch(topic, [event('a00000000000001AAA'), event('a00000000000002AAA')], (_info, type, data) => {
            if (type === 'publishResponse') {
                clearTimeout(timer);
                resolve(data);
            } else if (type === 'error') {
                clearTimeout(timer);
                reject(new Error(`publishBatch: ${data?.message ?? JSON.stringify(data)}`, { cause: data }));
            }
        })
        .catch(reject);
});
print({ step: 'batch', results: batch.results });

// OAuth client credentials: the client logs in, reads userinfo for the
// org id, then subscribes from the earliest retained event.
const third = new PubSubApiClient(
    {
        authType: 'oauth-client-credentials',
        loginUrl: env('LOGIN_URL'),
        clientId: env('CLIENT_ID'),
        clientSecret: env('CLIENT_SECRET'),
        pubSubEndpoint: env('ENDPOINT'),
        rejectUnauthorizedSsl: process.env.REJECT_UNAUTHORIZED !== 'false'
    },
    logger
);
await third.connect();
// The client keeps the first callback of a topic's subscription for good,
// so it forwards to whichever step is running.
let thirdCallback;
const { event: earliest } = await nextEvent((cb) => {
    thirdCallback = cb;
    third.subscribeFromEarliestEvent(topic, (...args) => thirdCallback(...args), 1);
}, 'earliest subscription');
print({ step: 'earliest', event: earliest });

// More credit on the same stream, and nothing left to deliver: the server
// answers with a keepalive naming where the stream stands.
const keepalive = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no keepalive within ${timeout} ms`)), timeout);
    thirdCallback = (info, type, data) => {
        if (type === 'grpcKeepAlive') {
            clearTimeout(timer);
            resolve(info);
        } else if (type === 'error' || type === 'end') {
            clearTimeout(timer);
            reject(new Error(`keepalive: ${type} ${data?.message ?? ''}`));
        }
    };
    third.requestAdditionalEvents(topic, 5);
});
print({ step: 'keepalive', replayId: keepalive.lastReplayId });

// A change event: the client reads the CDC topic's schema and turns the
// header's bitmaps into field names itself.
const { event: cdc } = await nextEvent(
    (cb) => second.subscribeFromEarliestEvent(env('CDC_TOPIC'), cb, 1),
    'CDC subscription'
);
print({ step: 'cdc', event: cdc });

client.close();
second.close();
third.close();
// close() leaves the open Subscribe calls running, and they hold the
// process: the run is over.
process.exit(0);

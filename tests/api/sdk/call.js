// Calls the API through the official SDKs, as a test's client: one JSON
// spec per call on the command line (or a JSON array of them), one JSON
// answer per call on stdout, in order:
//
//   node call.js '{"sdk":"v3","product":"ecs","action":"DescribeRegions",
//                  "params":{"regionId":"cn-tiangong"},"endpoint":"127.0.0.1:8080",
//                  "accessKeyId":"LTAI...","accessKeySecret":"..."}'
//
// sdk "v3": @alicloud/ecs20140526 / @alicloud/vpc20160428 on openapi-core
//   (ACS3-HMAC-SHA256), params as the typed request model's fields
//   (camelCase: new Ecs.RunInstancesRequest(params)).
// sdk "pop": @alicloud/pop-core (HMAC-SHA1), params as wire names
//   (PascalCase, Tag.1.Key), "method" GET (default) or POST.
// "https": true with "ca" (a PEM file) calls over TLS.
//
// Answer: {"ok": reply} or {"error": {"name", "code", "statusCode",
// "message", "data"}} — the error type the SDK raised (ClientError,
// ServerError, ThrottlingError, or pop-core's Error with a code).
'use strict';

const fs = require('fs');
const https = require('https');
const PopCore = require('@alicloud/pop-core');
const OpenApiCore = require('@alicloud/openapi-core');
const Ecs = require('@alicloud/ecs20140526');
const Vpc = require('@alicloud/vpc20160428');

const VERSIONS = { ecs: '2014-05-26', vpc: '2016-04-28' };
const MODULES = { ecs: Ecs, vpc: Vpc };

function lowerFirst(s) {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function describeError(e) {
  return {
    name: e.name || (e.constructor && e.constructor.name) || 'Error',
    code: e.code,
    statusCode: e.statusCode,
    message: e.message,
    data: e.data,
  };
}

async function callV3(spec) {
  const mod = MODULES[spec.product];
  const config = new OpenApiCore.$OpenApiUtil.Config({
    accessKeyId: spec.accessKeyId,
    accessKeySecret: spec.accessKeySecret,
    regionId: spec.regionId || 'cn-tiangong',
    endpoint: spec.endpoint,
    protocol: spec.https ? 'https' : 'http',
    ca: spec.ca ? fs.readFileSync(spec.ca, 'utf8') : undefined,
    readTimeout: spec.timeout || 60000,
    connectTimeout: 10000,
  });
  const client = new mod.default(config);
  const Request = mod[`${spec.action}Request`];
  if (!Request) throw new Error(`the SDK has no ${spec.action}Request`);
  const method = client[lowerFirst(spec.action)];
  if (typeof method !== 'function') throw new Error(`the SDK has no ${spec.action}`);
  const reply = await method.call(client, new Request(spec.params || {}));
  return reply.body.toMap ? reply.body.toMap() : reply.body;
}

async function callPop(spec) {
  const scheme = spec.https ? 'https' : 'http';
  const client = new PopCore({
    endpoint: `${scheme}://${spec.endpoint}`,
    apiVersion: VERSIONS[spec.product],
    accessKeyId: spec.accessKeyId,
    accessKeySecret: spec.accessKeySecret,
    opts: { timeout: spec.timeout || 60000 },
  });
  const options = { method: spec.method || 'GET', timeout: spec.timeout || 60000 };
  if (spec.https && spec.ca) options.agent = new https.Agent({ ca: fs.readFileSync(spec.ca) });
  return client.request(spec.action, spec.params || {}, options);
}

async function call(spec) {
  try {
    const reply = spec.sdk === 'pop' ? await callPop(spec) : await callV3(spec);
    return { ok: reply };
  } catch (e) {
    return { error: describeError(e) };
  }
}

async function main() {
  const arg = JSON.parse(process.argv[2] || fs.readFileSync(0, 'utf8'));
  const specs = Array.isArray(arg) ? arg : [arg];
  const answers = [];
  for (const spec of specs) answers.push(await call(spec));
  process.stdout.write(JSON.stringify(Array.isArray(arg) ? answers : answers[0]) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

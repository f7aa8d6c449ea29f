// A gRPC client of ProDa written as a JavaScript service would write it: @grpc/grpc-js with the
// .proto files loaded at run time by @grpc/proto-loader (no generated code), health checks from
// grpc-health-check's proto, reflection from @grpc/reflection's protos.
//
// usage: node call.mjs ADDRESS PROTO_ROOT < plan.json
//
// plan.json is a list of calls: {"service": "proda.v1.KnowledgeService", "method": "GetConcept",
// "request": {...}, "token": "...", "stream": false}. For each call one JSON line is printed:
// {"ok": true, "response": ...} (a list of messages for server streams) or
// {"ok": false, "code": <grpc status code>, "details": "...", "metadata": {...}}.
// Method "ServerReflectionInfo" sends each element of "requests" on one bidirectional stream and
// answers the services listed and the names, packages and services of the file descriptors returned.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import descriptors from 'protobufjs/ext/descriptor/index.js';

const require = createRequire(import.meta.url);
const [address, protoRoot] = process.argv.slice(2);
const packageDir = (name) => path.dirname(require.resolve(`${name}/package.json`));

const protos = fs.readdirSync(path.join(protoRoot, 'proda', 'v1'))
  .filter((f) => f.endsWith('.proto')).map((f) => `proda/v1/${f}`);
const healthDir = path.join(packageDir('grpc-health-check'), 'proto');
const reflectionDir = path.join(packageDir('@grpc/reflection'), 'build', 'proto');
const definition = protoLoader.loadSync(
  [...protos, 'health/v1/health.proto', 'grpc/reflection/v1alpha/reflection.proto',
    'grpc/reflection/v1/reflection.proto'],
  { includeDirs: [protoRoot, healthDir, reflectionDir], keepCase: true, longs: String, enums: String,
    defaults: true, oneofs: true });

const clients = new Map();
function client(service) {
  if (!clients.has(service)) {
    if (!definition[service]) throw new Error(`no service ${service} in the loaded protos`);
    const Client = grpc.makeGenericClientConstructor(definition[service], service);
    clients.set(service, new Client(address, grpc.credentials.createInsecure()));
  }
  return clients.get(service);
}

function metadataOf(call) {
  const md = new grpc.Metadata();
  if (call.token) md.set('authorization', `Bearer ${call.token}`);
  return md;
}

// generous: a job's worker process starts cold on a busy CI machine
const deadline = (seconds = 20) => new Date(Date.now() + seconds * 1000);
const failure = (err) => ({ ok: false, code: err.code, details: err.details, metadata: err.metadata ? err.metadata.getMap() : {} });

function unary(call) {
  return new Promise((resolve) => {
    client(call.service)[call.method](call.request || {}, metadataOf(call), { deadline: deadline() },
      (err, response) => resolve(err ? failure(err) : { ok: true, response }));
  });
}

function serverStream(call) {
  return new Promise((resolve) => {
    const messages = [];
    const stream = client(call.service)[call.method](call.request || {}, metadataOf(call), { deadline: deadline(120) });
    stream.on('data', (m) => messages.push(m));
    stream.on('error', (err) => resolve({ ...failure(err), messages }));
    stream.on('end', () => resolve({ ok: true, response: messages }));
  });
}

function describeFile(bytes) {
  const file = descriptors.FileDescriptorProto.decode(bytes);
  return { name: file.name, package: file.package, services: (file.service || []).map((s) => s.name),
    dependencies: file.dependency || [] };
}

function reflection(call) {
  return new Promise((resolve) => {
    const answers = [];
    const stream = client(call.service).ServerReflectionInfo(metadataOf(call), { deadline: deadline() });
    stream.on('data', (m) => {
      if (m.list_services_response) {
        answers.push({ services: m.list_services_response.service.map((s) => s.name) });
      } else if (m.file_descriptor_response) {
        answers.push({ files: m.file_descriptor_response.file_descriptor_proto.map(describeFile) });
      } else if (m.error_response) {
        answers.push({ error: m.error_response.error_code, message: m.error_response.error_message });
      }
    });
    stream.on('error', (err) => resolve({ ...failure(err), response: answers }));
    stream.on('end', () => resolve({ ok: true, response: answers }));
    for (const request of call.requests) stream.write(request);
    stream.end();
  });
}

const plan = JSON.parse(fs.readFileSync(0, 'utf8'));
for (const call of plan) {
  let result;
  try {
    if (call.method === 'ServerReflectionInfo') result = await reflection(call);
    else if (call.stream) result = await serverStream(call);
    else result = await unary(call);
  } catch (err) {
    result = { ok: false, code: -1, details: String(err && err.stack || err) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
for (const c of clients.values()) c.close();

#!/usr/bin/env node
// Independent KEDA-like client for the calendar scaler: loads proto/externalscaler.proto at run
// time with @grpc/proto-loader and calls the service with @grpc/grpc-js, so it shares nothing with
// the generated Python stubs.
//
//   node keda_client.js ADDRESS NAMESPACE NAME METRIC_NAME JSON_METADATA
//
// Calls, in order and as KEDA does: GetMetricSpec, GetMetrics (with METRIC_NAME), IsActive, then
// opens StreamIsActive, takes its first message and cancels the stream. Prints ONE JSON line:
//
//   {"spec": [MetricSpec...], "metrics": [MetricValue...], "active": bool, "stream_first": bool}
//
// int64 fields (targetSize, metricValue) are JSON strings (proto-loader longs: String); unset
// fields are filled with their defaults. On the first gRPC error it prints instead
//
//   {"error": {"code": <numeric grpc status>, "details": "<status details>"}}
//
// and still exits 0 (the failing method goes to stderr). Exit 2 means bad command-line use.
//
// Optional environment: KEDA_CLIENT_TIMEOUT_MS (deadline per call, default 10000);
// KEDA_CLIENT_PROTO (path of externalscaler.proto); KEDA_CLIENT_TLS_CA, KEDA_CLIENT_TLS_CERT,
// KEDA_CLIENT_TLS_KEY (PEM files: TLS when CA is set, mTLS when CERT and KEY are set too);
// KEDA_CLIENT_TLS_SERVER_NAME (override the name checked against the server certificate).
"use strict";

const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const USAGE = "usage: node keda_client.js ADDRESS NAMESPACE NAME METRIC_NAME JSON_METADATA";

function usage(message) {
  process.stderr.write(`keda_client: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function finish(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(0));
}

function parseArgs(argv) {
  if (argv.length !== 5) usage(`expected 5 arguments, got ${argv.length}`);
  const [address, namespace, name, metricName, metadataJson] = argv;
  let metadata;
  try {
    metadata = JSON.parse(metadataJson);
  } catch (e) {
    usage(`JSON_METADATA is not valid JSON: ${e.message}`);
  }
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    usage("JSON_METADATA must be a JSON object of string values");
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      usage(`JSON_METADATA value for "${key}" must be a string (KEDA sends only strings)`);
    }
  }
  return { address, namespace, name, metricName, metadata };
}

function credentials() {
  const ca = process.env.KEDA_CLIENT_TLS_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const cert = process.env.KEDA_CLIENT_TLS_CERT;
  const key = process.env.KEDA_CLIENT_TLS_KEY;
  if (Boolean(cert) !== Boolean(key)) {
    usage("set both KEDA_CLIENT_TLS_CERT and KEDA_CLIENT_TLS_KEY, or neither");
  }
  return grpc.credentials.createSsl(
    fs.readFileSync(ca),
    key ? fs.readFileSync(key) : null,
    cert ? fs.readFileSync(cert) : null,
  );
}

function loadService() {
  const protoPath =
    process.env.KEDA_CLIENT_PROTO ||
    path.resolve(__dirname, "..", "..", "proto", "externalscaler.proto");
  const definition = protoLoader.loadSync(protoPath, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).externalscaler.ExternalScaler;
}

class RpcError extends Error {
  constructor(method, code, details) {
    super(`${method}: code ${code}: ${details}`);
    this.method = method;
    this.code = code;
    this.details = details;
  }
}

function deadline(timeoutMs) {
  return new Date(Date.now() + timeoutMs);
}

function unary(client, method, request, timeoutMs) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: deadline(timeoutMs) }, (err, response) => {
      if (err) reject(new RpcError(method, err.code, err.details ?? err.message));
      else resolve(response);
    });
  });
}

function firstStreamMessage(client, request, timeoutMs) {
  const method = "StreamIsActive";
  return new Promise((resolve, reject) => {
    const call = client[method](request, { deadline: deadline(timeoutMs) });
    let done = false;
    call.on("data", (message) => {
      if (done) return;
      done = true;
      call.cancel();
      resolve(message);
    });
    call.on("error", (err) => {
      if (done) return; // the CANCELLED caused by our own cancel()
      done = true;
      reject(new RpcError(method, err.code, err.details ?? err.message));
    });
    call.on("status", (status) => {
      if (done) return;
      done = true;
      reject(
        new RpcError(
          method,
          status.code,
          `stream ended (${status.details || "no details"}) before its first message`,
        ),
      );
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const timeoutMs = Number(process.env.KEDA_CLIENT_TIMEOUT_MS || 10000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    usage("KEDA_CLIENT_TIMEOUT_MS must be a positive number");
  }
  const ExternalScaler = loadService();
  const options = {};
  if (process.env.KEDA_CLIENT_TLS_SERVER_NAME) {
    options["grpc.ssl_target_name_override"] = process.env.KEDA_CLIENT_TLS_SERVER_NAME;
    options["grpc.default_authority"] = process.env.KEDA_CLIENT_TLS_SERVER_NAME;
  }
  const client = new ExternalScaler(args.address, credentials(), options);
  const ref = { name: args.name, namespace: args.namespace, scalerMetadata: args.metadata };

  try {
    const spec = await unary(client, "GetMetricSpec", ref, timeoutMs);
    const metrics = await unary(
      client,
      "GetMetrics",
      { scaledObjectRef: ref, metricName: args.metricName },
      timeoutMs,
    );
    const active = await unary(client, "IsActive", ref, timeoutMs);
    const first = await firstStreamMessage(client, ref, timeoutMs);
    client.close();
    finish({
      spec: spec.metricSpecs,
      metrics: metrics.metricValues,
      active: active.result,
      stream_first: first.result,
    });
  } catch (err) {
    client.close();
    if (!(err instanceof RpcError)) throw err;
    process.stderr.write(`keda_client: ${err.message}\n`);
    finish({ error: { code: err.code, details: err.details } });
  }
}

main().catch((err) => {
  process.stderr.write(`keda_client: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

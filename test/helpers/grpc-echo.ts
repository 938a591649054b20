import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The small gRPC service the gRPC tests call: a unary `Say` and a server-streaming `Count`. */
const PROTO = `syntax = "proto3";
package echo;
service Echo {
  rpc Say (Msg) returns (Msg);
  rpc Count (Msg) returns (stream Msg);
}
message Msg { string text = 1; int32 n = 2; }
`;

export interface Msg {
  text: string;
  n: number;
}

export type EchoClient = grpc.Client & {
  Say(m: Partial<Msg>, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  Count(m: Partial<Msg>, md: grpc.Metadata): grpc.ClientReadableStream<Msg>;
};

export type EchoService = grpc.ServiceClientConstructor;

/** The Echo service's definition, loaded from its proto (written to a temporary file). */
export function loadEcho(): EchoService {
  const dir = mkdtempSync(join(tmpdir(), 'echo-proto-'));
  writeFileSync(join(dir, 'echo.proto'), PROTO);
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'echo.proto'))) as unknown as {
    echo: { Echo: EchoService };
  };
  return pkg.echo.Echo;
}

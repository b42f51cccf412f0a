// The few globals the SDK uses beyond ECMAScript, as every target platform (React Native,
// browsers, Node ≥ 18) has them. The library compiles against ES2020 plus this file only, so
// it cannot lean on DOM- or Node-only APIs by accident. Not emitted; internal use only.
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare const console: { warn(...data: unknown[]): void; info(...data: unknown[]): void };

/** ssh2's crypto module, imported only to learn whether its native binding loaded. */
declare module 'ssh2/lib/protocol/crypto.js' {
  const crypto: { bindingAvailable?: boolean };
  export default crypto;
}

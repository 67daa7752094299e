/** The Ferry version, reported by `--version` and the capabilities endpoint. */
export const VERSION = '0.1.0';

/**
 * Control characters written out as `\xNN`: for text that quotes a name someone else chose
 * (a file name may hold a newline, CR or an ESC sequence) in a message meant to stay one
 * line: a terminal, a log line, an error message that quotes the name. Direction controls
 * (embeddings, overrides, isolates) are written out too, as `\uNNNN`: `key\u202efdp.exe`
 * shows as `keyexe.pdf` in a browser or a terminal that reorders. The marks U+200E and
 * U+200F stay (Hebrew and Arabic names use them, and they reorder nothing around them).
 */

/** C0 controls but tab, DEL, C1 controls (U+0080-U+009F: 8-bit CSI, OSC...) and direction controls. */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character but tab written out (`a\nb` -> `a\x0ab`, U+202E -> `\u202e`). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

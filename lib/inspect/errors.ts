/**
 * Every way an image can be unusable ends in an `InspectError` naming the file and the problem in one
 * line. Names and values come from evidence, so they are shown escaped: a file called "a\nb" or one
 * carrying terminal escape sequences must not forge a second line or repaint the examiner's screen.
 */
export class InspectError extends Error {
  /** The file the problem is in (absolute where known), exactly as on disk. */
  readonly file: string;
  /** The problem alone, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(`${displayPath(file)}: ${problem}`);
    this.name = "InspectError";
    this.file = file;
    this.problem = problem;
  }
}

/**
 * A problem in the content of the file being read (a header field, a descriptor line). Parsers throw
 * it without knowing the file's name; the walk turns it into an InspectError naming the file.
 */
export class FormatError extends Error {}

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators some terminals honour.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** A path as typed, unless it holds control characters: then JSON-quoted so it stays one line. */
export function displayPath(file: string): string {
  return UNSAFE.test(file) ? JSON.stringify(file) : file;
}

/** A value read from a file, quoted and cut short for messages: 'value' or 'first 60 chars…'. */
export function quoteValue(value: string, limit = 60): string {
  const short = value.length > limit ? `${value.slice(0, limit)}…` : value;
  return UNSAFE.test(short) || short.includes("'") ? JSON.stringify(short) : `'${short}'`;
}

import { describe, expect, it } from 'vitest';
import * as errors from './errors.js';
import { ERROR_CODES, FerryError, NotFoundError, ferryErrorOf, isFerryError } from './errors.js';

/** Every exported class of the registry, by its export name. */
const classes = Object.entries(errors).filter(
  (entry): entry is [string, typeof NotFoundError] => typeof entry[1] === 'function' && entry[1].prototype instanceof FerryError,
);

describe('the error classes', () => {
  it('are many (the list below is not empty by accident)', () => {
    expect(classes.length).toBeGreaterThan(50);
  });

  it('each is named as it is exported: constructor.name, err.name and the stack say which it is', () => {
    for (const [exported, ErrorClass] of classes) {
      const err = new ErrorClass('m');
      expect({ exported, constructorName: ErrorClass.name, name: err.name, stack: err.stack?.split('\n')[0] }).toEqual({
        exported,
        constructorName: exported,
        name: exported,
        stack: `${exported}: m`,
      });
      expect(err).toBeInstanceOf(FerryError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(ErrorClass.code);
      expect(isFerryError(err, ErrorClass.code)).toBe(true);
    }
  });

  it('one class per code: no two classes share a code', () => {
    const codes = classes.map(([, c]) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('FerryError itself keeps its name', () => {
    const err = new FerryError('FERRY_ERR_NOT_FOUND');
    expect([FerryError.name, err.name, err.message]).toEqual(['FerryError', 'FerryError', ERROR_CODES.FERRY_ERR_NOT_FOUND.message]);
  });

  it('ferryErrorOf gives the class of the code, and a FerryError for a code without one', () => {
    const found = ferryErrorOf('FERRY_ERR_NOT_FOUND', 'no /a', { details: { path: '/a' } });
    expect(found).toBeInstanceOf(NotFoundError);
    expect([found.name, found.message, found.details]).toEqual(['NotFoundError', 'no /a', { path: '/a' }]);
    const classless = (Object.keys(ERROR_CODES) as errors.FerryErrorCode[]).find((code) => !classes.some(([, c]) => c.code === code));
    if (classless !== undefined) {
      const plain = ferryErrorOf(classless);
      expect([plain.constructor, plain.code]).toEqual([FerryError, classless]);
    }
    expect(ferryErrorOf('FERRY_ERR_VALIDATION')).not.toBeInstanceOf(NotFoundError);
  });

});

import { DEFAULT_STOP_WORDS, splitIdentifier, tokenize } from '@rescue/retrieval';

describe('splitIdentifier', () => {
  it.each([
    ['getHTTPResponse', ['get', 'http', 'response']],
    ['XMLHttpRequest', ['xml', 'http', 'request']],
    ['safe_load', ['safe', 'load']],
    ['MAX_PATH_LEN', ['max', 'path', 'len']],
    ['x-forwarded-for', ['x', 'forwarded', 'for']],
    ['sha256', ['sha', '256']],
    ['getURL', ['get', 'url']],
    ['strcpy', ['strcpy']],
    ['Überprüfung', ['überprüfung']],
  ])('%s → %j', (identifier, words) => {
    expect(splitIdentifier(identifier)).toEqual(words);
  });
});

describe('tokenize', () => {
  it.each([
    ['getHTTPResponse', ['get', 'http', 'response']],
    ['yaml.safe_load(stream)', ['yaml', 'safe', 'load', 'stream']],
    ['strcpy(buf, src);', ['strcpy', 'buf', 'src']],
    ['p->ops->read(p)', ['ops', 'read']],
    ['std::unique_ptr<Node>', ['std', 'unique', 'ptr', 'node']],
    ['open("../etc/passwd")', ['open', 'etc', 'passwd']],
    ['X-Forwarded-For header', ['forwarded', 'header']],
    ['md5 and sha256', ['md', 'sha', '256']],
    ['The file is read from the path', ['file', 'read', 'path']],
    ['i-1 + a*b', []],
    ['', []],
    ['   \n\t', []],
  ])('%j → %j', (text, tokens) => {
    expect(tokenize(text)).toEqual(tokens);
  });

  it('keeps the joined identifier after its parts when asked, and only for compounds', () => {
    expect(tokenize('getHTTPResponse strcpy yaml.safe_load md5', { keepJoined: true })).toEqual([
      'get',
      'http',
      'response',
      'gethttpresponse',
      'strcpy',
      'yaml',
      'safe',
      'load',
      'safeload',
      'md',
      'md5',
    ]);
  });

  it('unifies naming conventions through the joined form', () => {
    const joined = (s: string): string[] => tokenize(s, { keepJoined: true });
    expect(joined('get_http_response')).toEqual(joined('getHTTPResponse'));
    expect(joined('get-http-response')).toEqual(joined('GetHttpResponse'));
  });

  it('lowercases, and keeps security-relevant words that look like stop words', () => {
    expect(tokenize('Do NOT trust input Before validation')).toEqual(['not', 'trust', 'input', 'before', 'validation']);
    expect(DEFAULT_STOP_WORDS).not.toContain('not');
  });

  it('honours custom stop words and length limits', () => {
    expect(tokenize('the path of a file', { stopWords: ['path'] })).toEqual(['the', 'of', 'file']);
    expect(tokenize('a ab abc abcd', { stopWords: [], minLength: 1, maxLength: 3 })).toEqual(['a', 'ab', 'abc']);
    expect(tokenize(`id ${'q'.repeat(49)} ok`)).toEqual(['id', 'ok']);
  });

  it('handles letters without case as words', () => {
    expect(tokenize('路径 traversal')).toEqual(['路径', 'traversal']);
  });
});

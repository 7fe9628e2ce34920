import stem from 'wink-porter2-stemmer';
import { searchTerms, searchText } from '../src/text/search-terms';

describe('searchTerms', () => {
  it('splits identifiers, keeps them joined, stems words and drops stop words and bare numbers', () => {
    expect(searchTerms('char* get_target_for_redirect(const char* target) { // Check the URLs redirects')).toEqual([
      'get',
      'target',
      'redirect',
      'gettargetforredirect',
      'target',
      'check',
      'url',
      'redirect',
    ]);
    expect(searchTerms('getHTTPResponse sha256 1000')).toEqual(['get', 'http', 'respons', 'gethttprespons', 'sha', 'sha256']);
  });

  it('gives prose and code the same terms for the same words', () => {
    expect(searchTerms('redirection to a URL')).toEqual(searchTerms('redirectionURL').filter((t) => t !== 'redirectionurl'));
    expect(searchTerms('Sanitizes the passwords')).toEqual(['sanit', 'password']);
  });

  it('joins terms with single spaces for the indexes', () => {
    expect(searchText('yaml.safe_load(data)')).toBe('yaml safe load safeload data');
    expect(searchText('  ')).toBe('');
  });

  it('stems a word the same whether its stem is remembered or not, also once the memo of stems has started over', () => {
    // Past the memo's bound (50,000 distinct words) it is cleared: words stemmed before and after
    // that, and again after it, must still get the stemmer's own answer.
    const suffixes = ['ing', 'ations', 'ness', 'ed', 'ies', 'ly', 's', 'ational'];
    const words: string[] = [];
    for (let i = 0; words.length < 60_000; i += 1) words.push(`w${i.toString(36).replace(/\d/g, (d) => 'abcdefghij'[Number(d)])}${suffixes[i % suffixes.length]}`);
    // Then again some stemmed before the memo started over, and some after (remembered).
    const text = [...words, ...words.slice(0, 1_000), ...words.slice(55_000, 56_000)];
    expect(searchText(text.join(' '))).toBe(text.map((w) => stem(w)).join(' '));
  });
});

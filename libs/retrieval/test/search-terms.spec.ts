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
});

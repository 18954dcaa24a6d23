import { redactUrlText, splitUrlCredentials } from '../../src/config/secrets';
import { RegistryClient } from '../../src/codec/schema-registry';

describe('credentials in URLs', () => {
  it('takes decoded user info out of a URL and keeps the rest', () => {
    expect(splitUrlCredentials('https://svc:p%40ss%2Fw@reg.example.org:8443/apis/ccompat/v7/')).toEqual({
      url: 'https://reg.example.org:8443/apis/ccompat/v7', username: 'svc', password: 'p@ss/w',
    });
    expect(splitUrlCredentials('http://127.0.0.1:18081/apis/ccompat/v7')).toEqual({ url: 'http://127.0.0.1:18081/apis/ccompat/v7', username: undefined, password: undefined });
  });

  it('redacts what looks like user info in text that is not a URL', () => {
    expect(redactUrlText('ht tp://a:b@c/d and x://e@f')).toBe('ht tp://***@c/d and x://***@f');
    expect(redactUrlText('http://host/path?q=a@b')).toBe('http://host/path?q=a@b');
  });

  it('RegistryClient never keeps user info in the URL its errors quote', () => {
    expect(new RegistryClient({ url: 'http://u:topsecret@127.0.0.1:1/apis/ccompat/v7' }).url).toBe('http://127.0.0.1:1/apis/ccompat/v7');
  });
});

"""Regenerates python-json-vectors.json: how Django REST framework's JSONParser
(json.load over a UTF-8 codecs reader, strict constants) answers each body.

Run with CPython 3.11 or 3.12: python3 python_json_vectors.py > python-json-vectors.json
"""
import base64
import codecs
import io
import json


def strict_constant(o):
    raise ValueError('Out of range float values are not JSON compliant: ' + repr(o))


BODIES = [
    b'', b' ', b'\n\n', b'{', b'}', b'[', b']', b'{"a"', b'{"a":', b'{"a":}', b'{"a" 1}', b'{"a":1,}',
    b'{"a":1 "b":2}', b'[1,]', b'[1 2]', b'{a:1}', b"{'a':1}", b'{"a":1}x', b'{"a":1} {}',
    b'"abc', b'"a\x01"', b'"a\tb"', b'"\\x"', b'"\\u12"', b'"\\u12G4"', b'"\\u12"}', b'"\\ud800\\u12G4"',
    b'"\\ud83d\\ude00"', b'"\\ud800"', b'"\\', b'"\\"', b'NaN', b'-Infinity', b'Infinity', b'{"a":NaN}',
    b'nul', b'tru', b'fals', b'-', b'-a', b'01', b'1.', b'1e', b'1.5e+', b'1.5e+3', b'-0', b'1E5',
    b'\xef\xbb\xbf{}', b'\xff', b'{"a":"\xe4\xb8"}', b'{"a":"x"}\xe4', b'{"a":"x"}\xe4\xb8', b'\xe4\xb8A',
    b'\xed\xa0\x80', b'\xc0\x80', b'\xf4\x90\x80\x80', b'\xf0\x9f\x98', b'a\xf0\x9f\x98\x80b',
    b'{\n"a":\n}', b'{"a":1,\r\n"b"}', b'[[[]]', b'  [1, {"x": [true, false, null]}]  ',
    '{"é": x}'.encode(), '{"😀":1,}'.encode(), '["ü", 1 2]'.encode(), b'\t{"a"\t:\t"b"\t}\t',
    b'[]', b'1', b'1.5', b'1e5', b'-12', b'"s"', b'true', b'false', b'null', b'{}',
    b'{"a":1,"a":"two"}', b'{"username":"ann","n":1.0,"b":true,"z":null,"o":{},"l":[]}',
    b'{"k":"line\\nbreak \\"q\\" \\/ \\\\ \\b\\f\\r\\t \\u00e9"}', b'{"":""}', b'{"a":"\x7f"}',
    b'{"a" : "b" , "c" : [ ] }', b'{"a":-}', b'{"a":--1}', b'{"a":1.}', b'{"a":.5}', b'{"a":+1}',
]


def type_name(v):
    return {dict: 'dict', list: 'list', int: 'int', float: 'float', str: 'str', bool: 'bool', type(None): 'NoneType'}[type(v)]


out = []
for body in BODIES:
    case = {'body_b64': base64.b64encode(body).decode()}
    try:
        text = codecs.getreader('utf-8')(io.BytesIO(body)).read()
        value = json.loads(text, parse_constant=strict_constant) if text else None
        if not text:
            raise json.JSONDecodeError('Expecting value', text, 0)
    except ValueError as exc:
        case['error'] = str(exc)
    else:
        case['type'] = type_name(value)
        if isinstance(value, dict):
            case['fields'] = {k: {'type': type_name(v), 'text': v if isinstance(v, str) else None} for k, v in value.items()}
    out.append(case)
print(json.dumps(out, indent=1, ensure_ascii=False))

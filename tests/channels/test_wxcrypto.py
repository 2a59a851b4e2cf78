"""The stand-ins' WeChat cryptography (tests/standins/wxcrypto.py, written from the platforms'
documents) against Tencent's published sample vectors, and against the product's library, wechatpy.

The vectors come from Tencent's WXBizMsgCrypt samples: the Official Account one (token
``spamtest``, AppID ``wx2c2769f8efd9abc2``; and the Java sample's fixed-random vector) and the WeChat
Work one (token ``QDG6eK``, CorpID ``wx5823bf96d3bd56c7``), as printed in their Sample files.
Only when the stand-in reproduces these does a round trip between stand-in and product mean that
the product speaks the platforms' protocol, and not merely that wechatpy agrees with itself.
"""
from __future__ import annotations

import pytest
import xmltodict

from tests.standins import wxcrypto
from tests.standins.wxcrypto import DecryptError, aes_key, decrypt, encrypt, signature

# -- WeChat Work (企业微信) sample: Sample.py / Sample.cs of WXBizMsgCrypt -------------------------
WECOM_TOKEN, WECOM_CORP_ID = "QDG6eK", "wx5823bf96d3bd56c7"
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
# 使用示例一：验证回调URL
VERIFY_SIGNATURE, VERIFY_TIMESTAMP, VERIFY_NONCE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
VERIFY_PLAIN = "1616140317555161061"
# 使用示例二：对用户回复的消息解密
MESSAGE_SIGNATURE, MESSAGE_TIMESTAMP, MESSAGE_NONCE = "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149"
MESSAGE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYY"
    "vuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+"
    "LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallc"
    "rw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8"
    "Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
MESSAGE_FIELDS = {"ToUserName": WECOM_CORP_ID, "FromUserName": "mycreate", "CreateTime": "1409659813",
                  "MsgType": "text", "Content": "hello", "MsgId": "4561255354251345929", "AgentID": "218"}

# -- Official Account (公众号) sample: the Python and Java WXBizMsgCrypt samples --------------------
MP_TOKEN, MP_APPID, MP_KEY = "spamtest", "wx2c2769f8efd9abc2", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MP_TIMESTAMP, MP_NONCE, MP_MSG_SIGNATURE = "1409735669", "1320562132", "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
MP_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF"
    "9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg"
    "3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue"
    "1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=")
# The Java sample's vector with its random prefix fixed.
JAVA_APPID, JAVA_RANDOM, JAVA_TEXT = "wxb11529c136998cb6", b"aaaabbbbccccdddd", "我是中文abcd123"
JAVA_CIPHER = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="

#: Messages whose framed length (20 + body + an 18-character receiver id) falls just before, on and
#: just after a 32-byte boundary (25, 26, 27 bytes: padding of 1, a whole block of 32 × 0x20, 31).
ROUND_TRIP = ["", "a", "x" * 25, "x" * 26, "x" * 27, "9号楼楼顶漏雨", "<xml><Content><![CDATA[家里停水了]]></Content></xml>",
              "汛期将至，请检查阳台和屋顶的排水口。" * 40]


# -- the stand-in's implementation is the documented one ------------------------------------------

def test_the_wecom_url_verification_sample():
    assert signature(WECOM_TOKEN, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_SIGNATURE
    assert decrypt(aes_key(WECOM_KEY), VERIFY_ECHOSTR, WECOM_CORP_ID) == VERIFY_PLAIN


def test_the_wecom_message_sample():
    assert signature(WECOM_TOKEN, MESSAGE_TIMESTAMP, MESSAGE_NONCE, MESSAGE_ENCRYPT) == MESSAGE_SIGNATURE
    assert dict(xmltodict.parse(decrypt(aes_key(WECOM_KEY), MESSAGE_ENCRYPT, WECOM_CORP_ID))["xml"]) == MESSAGE_FIELDS


def test_the_official_account_safe_mode_sample():
    assert signature(MP_TOKEN, MP_TIMESTAMP, MP_NONCE, MP_ENCRYPT) == MP_MSG_SIGNATURE
    fields = xmltodict.parse(decrypt(aes_key(MP_KEY), MP_ENCRYPT, MP_APPID))["xml"]
    assert (fields["FromUserName"], fields["MsgType"], fields["Content"], fields["MsgId"]) == (
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "text", "abcdteT", "6054768590064713728")


def test_the_fixed_random_vector_encrypts_byte_for_byte():
    key = aes_key(MP_KEY)
    assert encrypt(key, JAVA_TEXT, JAVA_APPID, random=JAVA_RANDOM) == JAVA_CIPHER
    assert decrypt(key, JAVA_CIPHER, JAVA_APPID) == JAVA_TEXT


def test_plain_mode_signature_is_sha1_of_the_sorted_three():
    import hashlib

    assert signature("spamtest", "1409735669", "1320562132") == hashlib.sha1(
        b"".join(sorted([b"spamtest", b"1409735669", b"1320562132"]))).hexdigest()
    assert signature("b", "a", "c") == hashlib.sha1(b"abc").hexdigest()


@pytest.mark.parametrize("text", ROUND_TRIP, ids=lambda t: f"{len(t.encode())}B")
def test_padding_is_pkcs7_to_32_bytes(text):
    framed = 20 + len(text.encode()) + len(MP_APPID)
    raw = __import__("base64").b64decode(encrypt(aes_key(MP_KEY), text, MP_APPID))
    assert len(raw) % 32 == 0 and len(raw) - framed == 32 - framed % 32


def test_anything_not_for_this_receiver_is_refused():
    key = aes_key(WECOM_KEY)
    with pytest.raises(DecryptError, match="addressed to"):
        decrypt(key, MESSAGE_ENCRYPT, "ww_another_corp")
    with pytest.raises(DecryptError):
        decrypt(aes_key(MP_KEY), MESSAGE_ENCRYPT, WECOM_CORP_ID)  # the other sample's key
    with pytest.raises(DecryptError):
        decrypt(key, "not base64!", WECOM_CORP_ID)
    with pytest.raises(ValueError):
        aes_key("short")


# -- round trips with the product's library agree --------------------------------------------------

@pytest.mark.parametrize("text", ROUND_TRIP, ids=lambda t: f"{len(t.encode())}B")
def test_stand_in_and_wechatpy_read_each_others_ciphertexts(text):
    from wechatpy.crypto import PrpCrypto as OfficialAccountCrypto
    from wechatpy.enterprise.crypto import PrpCrypto as WorkCrypto

    for product, key, receiver in ((OfficialAccountCrypto, aes_key(MP_KEY), MP_APPID),
                                   (WorkCrypto, aes_key(WECOM_KEY), WECOM_CORP_ID)):
        assert product(key).decrypt(encrypt(key, text, receiver), receiver) == text
        assert decrypt(key, product(key).encrypt(text, receiver).decode(), receiver) == text


def test_wechatpy_reproduces_the_same_vectors(monkeypatch):
    from wechatpy.crypto import PrpCrypto, WeChatCrypto
    from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto

    monkeypatch.setattr(PrpCrypto, "get_random_string", lambda self: JAVA_RANDOM.decode())
    assert PrpCrypto(aes_key(MP_KEY)).encrypt(JAVA_TEXT, JAVA_APPID).decode() == JAVA_CIPHER
    work = WorkCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_CORP_ID)
    assert work.check_signature(VERIFY_SIGNATURE, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_PLAIN
    body = f"<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{MESSAGE_ENCRYPT}]]></Encrypt></xml>"
    assert dict(xmltodict.parse(work.decrypt_message(body, MESSAGE_SIGNATURE, MESSAGE_TIMESTAMP, MESSAGE_NONCE))["xml"]) \
        == MESSAGE_FIELDS
    official = WeChatCrypto(MP_TOKEN, MP_KEY, MP_APPID)
    body = f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{MP_ENCRYPT}]]></Encrypt></xml>"
    assert "abcdteT" in official.decrypt_message(body, MP_MSG_SIGNATURE, MP_TIMESTAMP, MP_NONCE)


def test_signatures_agree_with_wechatpy():
    from wechatpy.crypto import _get_signature
    from wechatpy.utils import check_signature

    for parts in [("spamtest", "1409735669", "1320562132", MP_ENCRYPT), ("令牌", "1", "2", "加密")]:
        assert signature(*parts) == _get_signature(*parts)
    check_signature("spamtest", signature("spamtest", "1409735669", "1320562132"), "1409735669", "1320562132")


def test_nothing_in_the_stand_ins_imports_wechatpy():
    import ast
    from pathlib import Path

    for source in Path(wxcrypto.__file__).parent.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not [name for name in imported if name.split(".")[0] == "wechatpy"], source.name

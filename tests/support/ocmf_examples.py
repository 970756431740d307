"""Signed meter values (OCMF) from public sources, with the public keys that verify them:
shared by the OCMF unit tests and the end-to-end evidence tests."""

# From the S.A.F.E. e.V. transparency software's own test data: github.com/SAFE-eV/
# transparenzsoftware at d556f1ace68043682862b9403b7fff25f1df93a6,
# src/test/resources/xml/test_ocmf_keba_kcp30.xml (signedData and publicKey; the key is also
# asserted in src/test/java/de/safe_ev/transparenzsoftware/AppOCMFTest.java). A KEBA KCP30
# wallbox, default algorithm (no SA: ECDSA-secp256r1-SHA256), hex signature.
KEBA_OCMF = (
    'OCMF|{"FV":"1.0","GI":"KEBA_KCP30","GS":"17619300","GV":"2.8.5","PG":"T32","IS":false,'
    '"IL":"NONE","IF":["RFID_NONE","OCPP_NONE","ISO15118_NONE","PLMN_NONE"],"IT":"NONE",'
    '"ID":"","RD":[{"TM":"2019-08-13T10:03:15,000+0000 I","TX":"B","EF":"","ST":"G",'
    '"RV":0.2596,"RI":"1-b:1.8.0","RU":"kWh"},{"TM":"2019-08-13T10:03:36,000+0000 R",'
    '"TX":"E","EF":"","ST":"G","RV":0.2597,"RI":"1-b:1.8.0","RU":"kWh"}]}|{"SD":"30450220'
    "0E2F107C987A300AC1695CA89EA149A8CDFA16188AF0A33EE64B67964AA943F9022100889A72B6D65364"
    'BEA8562E7F6A0253157ACFF84FE4929A93B5964D23C4265699"}'
)
KEBA_PUBLIC_KEY = (
    "3059301306072A8648CE3D020106082A8648CE3D030107034200043AEEB45C392357820A58FDFB0857BD77"
    "ADA31585C61C430531DFA53B440AFBFDD95AC887C658EA55260F808F55CA948DF235C2108A0D6DC7D4AB1A"
    "5E1A7955BE"
)


# How the SAP e-mobility charging stations simulator (github.com/SAP/e-mobility-charging-
# stations-simulator, ee7899b86) sends 1.6 signed values, captured from it on 2026-11-28: a
# sampled value with format SignedData whose value is 2.0.1's SignedMeterValueType as JSON
# text (the Open Charge Alliance's note on signed meter values in 1.6), signedMeterData base64
# of OCMF, publicKey base64 of "oca:base16:asn1:<hex DER>" (secp256k1). Its signatures are
# placeholders (32 bytes, no DER), so they must never verify.
SAP_SIGNED_BEGIN = (
    '{"encodingMethod":"OCMF","publicKey":"b2NhOmJhc2UxNjphc24xOjMwNTYzMDEwMDYwNzJhODY0OGNlM2'
    "QwMjAxMDYwNTJiODEwNDAwMGEwMzQyMDAwNDQ2MGEwMmJhMjc2NmQ5YzQ0ZjAyM2VjYzBlNGU1ODY0NGE4N2FkZD"
    "FhYWRkNjMxN2U1ZmU0ZGNjZGIyOWIxNjNhMDFkOGE2Mjk3Yzg0YmM1MzBmODY0MzFlOTJmOGQ0NmFiMzc4MzAyND"
    'djMDVjYmQ5MmZhYzI1MjkyOWU3ZjYx","signedMeterData":"T0NNRnx7IkZWIjoiMS4wIiwiR0kiOiJTSU1VT'
    "EFUT1IiLCJHUyI6IlNJTVVMQVRPUiIsIkdWIjoiMS4wIiwiUEciOiJUMSIsIlJEIjpbeyJSSSI6IjEtMDoxLjguM"
    "CIsIlJUIjoiQUMiLCJSVSI6ImtXaCIsIlJWIjowLCJTVCI6IkciLCJUTSI6IjIwMjYtMTEtMjhUMjM6MzI6MDMuN"
    "jU4WiIsIlRYIjoiQiJ9XX18eyJTQSI6IkVDRFNBLXNlY3AyNTZrMS1TSEEyNTYiLCJTRCI6IjhmZDc1ZDVhY2U3M"
    'Tk4ODg4NTM5MjBlOTcyOWNlMzVjMmNiM2E4ZTc1NDg5NmQxNTMzNGJkMDFlZTA3MzNiNGUifQ==","signingMet'
    'hod":""}'
)
SAP_SIGNED_END = (
    '{"encodingMethod":"OCMF","publicKey":"b2NhOmJhc2UxNjphc24xOjMwNTYzMDEwMDYwNzJhODY0OGNlM2'
    "QwMjAxMDYwNTJiODEwNDAwMGEwMzQyMDAwNDQ2MGEwMmJhMjc2NmQ5YzQ0ZjAyM2VjYzBlNGU1ODY0NGE4N2FkZD"
    "FhYWRkNjMxN2U1ZmU0ZGNjZGIyOWIxNjNhMDFkOGE2Mjk3Yzg0YmM1MzBmODY0MzFlOTJmOGQ0NmFiMzc4MzAyND"
    'djMDVjYmQ5MmZhYzI1MjkyOWU3ZjYx","signedMeterData":"T0NNRnx7IkZWIjoiMS4wIiwiR0kiOiJTSU1VT'
    "EFUT1IiLCJHUyI6IlNJTVVMQVRPUiIsIkdWIjoiMS4wIiwiUEciOiJUMSIsIlJEIjpbeyJSSSI6IjEtMDoxLjguM"
    "CIsIlJUIjoiQUMiLCJSVSI6ImtXaCIsIlJWIjoxLjU0MywiU1QiOiJHIiwiVE0iOiIyMDI2LTExLTI4VDIzOjM1O"
    "jAzLjY5MloiLCJUWCI6IkUifV19fHsiU0EiOiJFQ0RTQS1zZWNwMjU2azEtU0hBMjU2IiwiU0QiOiI2NTg3NDU2Z"
    'DAwYWE5MjExMmNiYjRmNDg5NjJjNzc4Y2E3N2JkM2JiODk3OWU3ZTI1NjNjOTliMGNmYWQwN2M2In0=","signin'
    'gMethod":""}'
)

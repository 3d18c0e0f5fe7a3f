import requests
import socks

from envrepro import PythonModel


class ProxiedClient(PythonModel):
    def load_context(self, context):
        self.session = requests.Session()
        self.proxy_type = socks.SOCKS5

    def predict(self, context, model_input, params=None):
        return [self.proxy_type for _ in model_input]

"""The service's endpoints: one APIRouter per OpenAPI tag, each declaring the token scope
its routes need; `create_app` includes them."""
